#include "sync/io/log_fields.hpp"

namespace rostersync::sync {

namespace {
constexpr std::string_view kPrefix = "run:";
thread_local RecordFields record_fields;
}  // namespace

ScopedRecordFields::ScopedRecordFields(RecordFields fields) : saved_(std::move(record_fields)) {
  record_fields = std::move(fields);
}

ScopedRecordFields::~ScopedRecordFields() { record_fields = std::move(saved_); }

const RecordFields& current_record_fields() { return record_fields; }

std::string run_logger_name(const std::string& job, std::int64_t run_id) {
  return std::string(kPrefix) + std::to_string(run_id) + ":" + job;
}

LogFields log_fields_of(std::string_view name) {
  LogFields fields;
  if (name.substr(0, kPrefix.size()) != kPrefix) return fields;
  name.remove_prefix(kPrefix.size());
  std::size_t colon = name.find(':');
  if (colon == std::string_view::npos) return fields;
  try {
    fields.run_id = std::stoll(std::string(name.substr(0, colon)));
  } catch (const std::exception&) {
    return {};
  }
  fields.job = std::string(name.substr(colon + 1));  // job names hold no ':' (config checks them)
  return fields;
}

}  // namespace rostersync::sync
