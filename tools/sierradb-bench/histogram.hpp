// Log-bucketed latency histogram in the spirit of HdrHistogram: values below 2^kBits are exact,
// larger values keep their top kBits bits (relative error < 2^-(kBits-1), about 0.8%).
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sierra::bench {

class Histogram {
 public:
  static constexpr unsigned kBits = 8;  // significant bits kept
  static constexpr uint64_t kHalf = uint64_t{1} << (kBits - 1);
  static constexpr unsigned kMaxBits = 42;  // values clamp at ~73 min in ns
  static constexpr uint64_t kMaxValue = (uint64_t{1} << kMaxBits) - 1;

  Histogram() : counts_(index(kMaxValue) + 1, 0) {}

  void record(uint64_t v) {
    v = std::min(v, kMaxValue);
    ++counts_[index(v)];
    ++total_;
    sum_ += v;
    min_ = std::min(min_, v);
    max_ = std::max(max_, v);
  }

  void merge(const Histogram& o) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    sum_ += o.sum_;
    min_ = std::min(min_, o.min_);
    max_ = std::max(max_, o.max_);
  }

  [[nodiscard]] uint64_t count() const { return total_; }
  [[nodiscard]] uint64_t min() const { return total_ == 0 ? 0 : min_; }
  [[nodiscard]] uint64_t max() const { return max_; }
  [[nodiscard]] double mean() const {
    return total_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(total_);
  }

  // Smallest recorded-bucket value v such that at least p% of the samples are <= v (bucket
  // midpoint, clamped to [min, max]). p in [0, 100].
  [[nodiscard]] uint64_t percentile(double p) const {
    if (total_ == 0) return 0;
    auto target = static_cast<uint64_t>(p / 100.0 * static_cast<double>(total_) + 0.999999);
    target = std::clamp<uint64_t>(target, 1, total_);
    uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= target) {
        uint64_t lo = lower(i);
        uint64_t hi = upper(i);
        return std::clamp(lo + (hi - lo) / 2, min(), max_);
      }
    }
    return max_;
  }

 private:
  static std::size_t index(uint64_t v) {
    if (v < 2 * kHalf) return static_cast<std::size_t>(v);
    unsigned msb = 63U - static_cast<unsigned>(std::countl_zero(v));
    unsigned shift = msb - (kBits - 1);
    uint64_t m = v >> shift;  // in [kHalf, 2 * kHalf)
    return static_cast<std::size_t>(shift * kHalf + m);
  }
  static uint64_t lower(std::size_t i) {
    if (i < 2 * kHalf) return i;
    uint64_t shift = i / kHalf - 1;
    uint64_t m = i - shift * kHalf;
    return m << shift;
  }
  static uint64_t upper(std::size_t i) {
    if (i < 2 * kHalf) return i;
    uint64_t shift = i / kHalf - 1;
    uint64_t m = i - shift * kHalf;
    return ((m + 1) << shift) - 1;
  }

  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace sierra::bench
