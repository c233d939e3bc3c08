// Transaction::make's validation of NewEvent (engine/transaction.hpp) and the ExpectedVersion /
// CurrentVersion rules, without a database.
#include "engine/transaction.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "engine/ids.hpp"

namespace sierra {
namespace {

using EV = ExpectedVersion;
using CV = CurrentVersion;

NewEvent valid_event(const std::string& stream = "orders-1") {
  NewEvent e;
  e.partition_key = partition_key_for_stream(stream);
  e.event_id = new_event_id(partition_hash(e.partition_key));
  e.stream_id = stream;
  e.event_name = "OrderPlaced";
  e.timestamp_ns = 1'700'000'000'000'000'000ull;
  e.metadata = "{}";
  e.payload = "payload";
  return e;
}

Errc rejection(std::vector<NewEvent> events) {
  auto tx = Transaction::make(std::move(events));
  EXPECT_FALSE(tx.has_value()) << "Transaction::make accepted an invalid transaction";
  return tx ? Errc{} : tx.error().code;
}

TEST(TransactionMake, AcceptsValidEventsAndKeepsThemInOrder) {
  NewEvent a = valid_event();
  NewEvent b = valid_event();
  b.partition_key = a.partition_key;
  b.event_id = new_event_id(partition_hash(a.partition_key));
  b.stream_id = "other-stream";  // another stream of the same partition key is fine
  auto tx = Transaction::make({a, b});
  ASSERT_TRUE(tx.has_value()) << tx.error().to_string();
  ASSERT_EQ(tx->events().size(), 2u);
  EXPECT_EQ(tx->events()[0].event_id, a.event_id);
  EXPECT_EQ(tx->events()[1].event_id, b.event_id);
  EXPECT_EQ(tx->events()[1].stream_id, "other-stream");
  EXPECT_EQ(tx->partition_key(), a.partition_key);
  EXPECT_EQ(tx->partition_hash(), partition_hash(a.partition_key));
  EXPECT_EQ(tx->expected_sequence(), EV::any());
  EXPECT_FALSE(transaction_id_is_single(tx->id()));
}

TEST(TransactionMake, SingleEventTransactionIdCarriesTheSingleFlag) {
  auto one = Transaction::make({valid_event()});
  ASSERT_TRUE(one.has_value());
  EXPECT_TRUE(transaction_id_is_single(one->id()));
  // An id set by hand gets the flag forced to match the event count.
  const Uuid forced = with_single_flag(uuid_v4(), false);
  one->transaction_id(forced);
  EXPECT_TRUE(transaction_id_is_single(one->id()));
  EXPECT_EQ(one->id(), with_single_flag(forced, true));

  NewEvent second = valid_event();
  auto two = Transaction::make({valid_event(), second});
  ASSERT_TRUE(two.has_value());
  two->transaction_id(with_single_flag(uuid_v4(), true));
  EXPECT_FALSE(transaction_id_is_single(two->id()));
}

TEST(TransactionMake, ExpectedPartitionSequenceIsKept) {
  auto tx = Transaction::make({valid_event()});
  ASSERT_TRUE(tx.has_value());
  tx->expected_partition_sequence(EV::exact(41));
  EXPECT_EQ(tx->expected_sequence(), EV::exact(41));
}

TEST(TransactionMake, RejectsAnEmptyTransaction) {
  EXPECT_EQ(rejection({}), Errc::EmptyTransaction);
}

TEST(TransactionMake, RejectsDifferentPartitionKeys) {
  NewEvent a = valid_event("a");
  NewEvent b = valid_event("b");
  ASSERT_NE(a.partition_key, b.partition_key);
  EXPECT_EQ(rejection({a, b}), Errc::PartitionKeyMismatch);
}

TEST(TransactionMake, RejectsAnEventIdWithoutThePartitionHash) {
  NewEvent e = valid_event();
  // An id made for another hash: flip one bit of the hash.
  e.event_id = new_event_id(static_cast<PartitionHash>(partition_hash(e.partition_key) ^ 1u));
  ASSERT_FALSE(validate_event_id(e.event_id, partition_hash(e.partition_key)));
  EXPECT_EQ(rejection({e}), Errc::InvalidEventId);
  // The second event is checked too, not only the first.
  EXPECT_EQ(rejection({valid_event(), e}), Errc::InvalidEventId);
}

TEST(TransactionMake, StreamIdLengthAndNullBytes) {
  NewEvent e = valid_event();
  e.stream_id = "";
  EXPECT_EQ(rejection({e}), Errc::InvalidLength);
  e.stream_id = std::string(kStreamIdMaxBytes + 1, 's');
  EXPECT_EQ(rejection({e}), Errc::InvalidLength);
  e.stream_id = std::string("a\0b", 3);
  EXPECT_EQ(rejection({e}), Errc::ContainsNullByte);
  e.stream_id = std::string(kStreamIdMaxBytes, 's');  // the limit itself is fine
  EXPECT_TRUE(Transaction::make({e}).has_value());
}

TEST(TransactionMake, EventNameAtMost255Bytes) {
  NewEvent e = valid_event();
  e.event_name = std::string(255, 'n');
  EXPECT_TRUE(Transaction::make({e}).has_value());
  e.event_name = std::string(256, 'n');
  EXPECT_EQ(rejection({e}), Errc::InvalidArgument);
  e.event_name.clear();  // an empty name is allowed
  EXPECT_TRUE(Transaction::make({e}).has_value());
}

TEST(TransactionMake, TimestampBelow2To63) {
  NewEvent e = valid_event();
  e.timestamp_ns = (uint64_t{1} << 63) - 1;
  EXPECT_TRUE(Transaction::make({e}).has_value());
  e.timestamp_ns = uint64_t{1} << 63;
  EXPECT_EQ(rejection({e}), Errc::InvalidArgument);
  e.timestamp_ns = std::numeric_limits<uint64_t>::max();
  EXPECT_EQ(rejection({e}), Errc::InvalidArgument);
}

TEST(ExpectedVersionTest, NextVersionRoundTripAndText) {
  EXPECT_EQ(EV::from_next_version(0), EV::empty());
  EXPECT_EQ(EV::from_next_version(7), EV::exact(6));
  for (uint64_t next : {0ull, 1ull, 1000ull}) {
    EXPECT_EQ(EV::from_next_version(next).into_next_version(), next);
  }
  EXPECT_EQ(EV::any().to_string(), "any");
  EXPECT_EQ(EV::exists().to_string(), "exists");
  EXPECT_EQ(EV::empty().to_string(), "empty");
  EXPECT_EQ(EV::exact(12).to_string(), "12");
  EXPECT_NE(EV::exact(0), EV::empty());
}

TEST(CurrentVersionTest, SatisfiesEveryKind) {
  const CV empty = CV::empty();
  const CV at3 = CV::current(3);
  EXPECT_TRUE(empty.satisfies(EV::any()));
  EXPECT_TRUE(at3.satisfies(EV::any()));
  EXPECT_FALSE(empty.satisfies(EV::exists()));
  EXPECT_TRUE(at3.satisfies(EV::exists()));
  EXPECT_TRUE(empty.satisfies(EV::empty()));
  EXPECT_FALSE(at3.satisfies(EV::empty()));
  EXPECT_TRUE(at3.satisfies(EV::exact(3)));
  EXPECT_FALSE(at3.satisfies(EV::exact(2)));
  EXPECT_FALSE(at3.satisfies(EV::exact(4)));
  EXPECT_FALSE(empty.satisfies(EV::exact(0)));  // exact 0 means "one event exists"
}

TEST(CurrentVersionTest, AddingEventsAndNext) {
  CV v = CV::empty();
  EXPECT_EQ(v.next(), 0u);
  EXPECT_EQ(v.as_expected(), EV::empty());
  v += 0;
  EXPECT_TRUE(v.is_empty);
  v += 1;
  EXPECT_EQ(v, CV::current(0));
  v += 3;
  EXPECT_EQ(v, CV::current(3));
  EXPECT_EQ(v.next(), 4u);
  EXPECT_EQ(v.as_expected(), EV::exact(3));
  EXPECT_EQ(v.to_string(), "3");
  EXPECT_EQ(CV::empty().to_string(), "empty");
  CV w = CV::empty();
  w += 5;
  EXPECT_EQ(w, CV::current(4));
}

}  // namespace
}  // namespace sierra
