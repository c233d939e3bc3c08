// RecordWindow::plan: which bytes one read covers, given the offsets the iterator reads next.
// (Reading through the window is covered by scan_view_test: dense and interleaved layouts,
// forward and reverse, records smaller and larger than the window.)
#include "engine/segment/record_window.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sierra {
namespace {

using Range = std::pair<uint64_t, uint64_t>;
constexpr uint64_t kWin = RecordWindow::kWindowSize;
constexpr uint64_t kPage = RecordWindow::kPage;
constexpr uint64_t kEnd = 1 << 30;

std::vector<SeqOffset> offsets(std::initializer_list<uint64_t> os) {
  std::vector<SeqOffset> v;
  uint64_t seq = 0;
  for (uint64_t o : os) v.push_back(SeqOffset{seq++, o});
  return v;
}

TEST(RecordWindowPlan, NothingUpcomingReadsOnePageOrTheRecord) {
  EXPECT_EQ(RecordWindow::plan(1000, 60, kEnd, {}), (Range{1000, 1000 + kPage}));
  EXPECT_EQ(RecordWindow::plan(1000, 10'000, kEnd, {}), (Range{1000, 11'000}));
}

TEST(RecordWindowPlan, ForwardRunWithinTheWindowIsCovered) {
  const auto up = offsets({1300, 1900, 5000, 1000 + kWin - 1, 1000 + kWin, 1000 + kWin + 10});
  // The first four start within kWindowSize of 1000; the fifth does not, and ends the run.
  EXPECT_EQ(RecordWindow::plan(1000, 60, kEnd, up), (Range{1000, 1000 + kWin - 1 + kPage}));
}

TEST(RecordWindowPlan, FarNeighboursReadAPageEach) {
  const auto up = offsets({1000 + kWin, 1000 + 2 * kWin});  // a stream among many writers
  EXPECT_EQ(RecordWindow::plan(1000, 60, kEnd, up), (Range{1000, 1000 + kPage}));
}

TEST(RecordWindowPlan, BackwardRunStartsTheReadLower) {
  const uint64_t at = 10 * kWin;
  const auto up = offsets({at - 300, at - 900, at - kWin + 1, at - kWin - 1});
  EXPECT_EQ(RecordWindow::plan(at, 60, kEnd, up), (Range{at - kWin + 1, at + kPage}));
}

TEST(RecordWindowPlan, ARunEndsWhereTheDirectionChanges) {
  EXPECT_EQ(RecordWindow::plan(1000, 60, kEnd, offsets({1500, 1200, 1800})),
            (Range{1000, 1500 + kPage}));
  EXPECT_EQ(RecordWindow::plan(5000, 60, kEnd, offsets({4000, 4500, 3000})),
            (Range{4000, 5000 + kPage}));
  EXPECT_EQ(RecordWindow::plan(5000, 60, kEnd, offsets({5000, 6000})), (Range{5000, 5000 + kPage}));
}

TEST(RecordWindowPlan, NeverPastTheVisibleEnd) {
  EXPECT_EQ(RecordWindow::plan(1000, 60, 1200, offsets({1100})), (Range{1000, 1200}));
  EXPECT_EQ(RecordWindow::plan(1000, 60, 1000 + kPage + 5, {}), (Range{1000, 1000 + kPage}));
}

TEST(RecordWindowPlan, ALargeRecordIsReadWhole) {
  // want covers a record longer than the planned run; the read still starts at lo.
  const auto up = offsets({900, 800});
  EXPECT_EQ(RecordWindow::plan(1000, 3 * kWin, kEnd, up), (Range{800, 1000 + 3 * kWin}));
}

}  // namespace
}  // namespace sierra
