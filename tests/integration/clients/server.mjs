// Starts and stops a real sierradb for the client-compatibility suite: 127.0.0.1 only, a free
// port, a temporary data directory; stop() sends SIGTERM to that PID and expects exit status 0;
// restart() stops it and starts it again on the same port and directory.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// true once a raw `PING` gets `+PONG`.
function pingOnce(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('*1\r\n$4\r\nPING\r\n'));
    sock.on('data', (d) => {
      buf += d;
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

export class Server {
  constructor(bin) {
    this.bin = bin;
    this.dir = mkdtempSync(path.join(os.tmpdir(), 'sierradb-compat-'));
    this.port = 0;
    this.proc = null;
    this.log = [];
  }

  async start() {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (!this.port || attempt > 0) this.port = await freePort();
      if (await this.#spawnAndWait()) return;
      if (!this.log.join('').match(/address (already )?in use|EADDRINUSE/i)) break;
    }
    throw new Error(`sierradb did not start; log:\n${this.log.join('').slice(-4000)}`);
  }

  // Same port, same directory (a restart): no retry on another port.
  async restart() {
    await this.stop();
    if (!(await this.#spawnAndWait())) {
      throw new Error(`sierradb did not restart; log:\n${this.log.join('').slice(-4000)}`);
    }
  }

  async #spawnAndWait() {
    const proc = spawn(this.bin, ['--dir', path.join(this.dir, 'data'), '--client-address',
      `127.0.0.1:${this.port}`, '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout.on('data', (d) => this.log.push(String(d)));
    proc.stderr.on('data', (d) => this.log.push(String(d)));
    const exited = new Promise((r) => proc.once('exit', (code, sig) => r({ code, sig })));
    proc.exitedPromise = exited;
    this.proc = proc;
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) {
        this.proc = null;
        return false;
      }
      if (await pingOnce(this.port)) return true;
      await sleep(50);
    }
    throw new Error(`sierradb (pid ${proc.pid}) did not answer PING within 10 s`);
  }

  get pid() {
    return this.proc?.pid;
  }

  // SIGTERM to our PID; 10 s for a clean exit (status 0), else SIGKILL and an error.
  async stop() {
    const proc = this.proc;
    if (!proc) return;
    this.proc = null;
    if (proc.exitCode !== null) throw new Error(`sierradb had exited with status ${proc.exitCode}`);
    process.kill(proc.pid, 'SIGTERM');
    let timer;
    const result = await Promise.race([proc.exitedPromise,
      new Promise((r) => { timer = setTimeout(() => r(null), 10000); })]);
    clearTimeout(timer);
    if (!result) {
      process.kill(proc.pid, 'SIGKILL');
      await proc.exitedPromise;
      throw new Error(`sierradb (pid ${proc.pid}) did not exit within 10 s of SIGTERM`);
    }
    if (result.code !== 0) {
      throw new Error(`sierradb exited with ${result.code ?? result.sig} after SIGTERM`);
    }
  }

  cleanup() {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
