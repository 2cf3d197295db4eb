// The C entry points of include/derp/netcheck.h: argument checks, struct_size handling, then one UvNetcheck run on
// a private loop.
#include "derp/netcheck.h"

#include <uv.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string_view>

#include "capi/guard.hpp"
#include "client/derpmap.hpp"
#include "netcheck/options.hpp"
#include "netcheck/report.hpp"
#include "uv/uv_netcheck.hpp"

namespace {

namespace netcheck = derp::netcheck;

static_assert(DERP_NETCHECK_MAX_TRIES == netcheck::kMaxTries);

// A struct_size below this cannot even hold struct_size: the caller forgot to set it.
constexpr std::size_t kMinStructSize = sizeof(std::size_t);
constexpr std::uint32_t kMaxTimeoutMs = 600'000;
constexpr std::uint32_t kMaxIntervalMs = 60'000;

// Copies the fields of `full` that fit in the caller's struct_size into *dst, leaving dst->struct_size as it was.
template <class T>
void write_prefix(T* dst, T full) {
  full.struct_size = dst->struct_size;
  std::memcpy(static_cast<void*>(dst), &full, std::min(dst->struct_size, sizeof(T)));
}

// The caller's options over our defaults: fields past the caller's struct_size keep their default.
template <class T>
T read_prefix(const T* src, T defaults) {
  std::memcpy(static_cast<void*>(&defaults), src, std::min(src->struct_size, sizeof(T)));
  return defaults;
}

derp_netcheck_options default_options() {
  const netcheck::Options o;
  derp_netcheck_options c{};
  c.struct_size = sizeof c;
  c.timeout_ms = static_cast<std::uint32_t>(o.timeout / derp::kMillisecond);
  c.ipv4 = o.ipv4 ? 1 : 0;
  c.ipv6 = o.ipv6 ? 1 : 0;
  c.tries = static_cast<std::uint32_t>(o.tries);
  c.retry_interval_ms = static_cast<std::uint32_t>(o.retry_interval / derp::kMillisecond);
  c.enough_regions = static_cast<std::uint32_t>(o.enough_regions);
  return c;
}

std::optional<netcheck::Options> to_options(const derp_netcheck_options& c) {
  if (c.timeout_ms < 1 || c.timeout_ms > kMaxTimeoutMs) return std::nullopt;
  if (c.tries < 1 || c.tries > netcheck::kMaxTries) return std::nullopt;
  if (c.retry_interval_ms < 1 || c.retry_interval_ms > kMaxIntervalMs) return std::nullopt;
  if (c.enough_regions > netcheck::kMaxRegions) return std::nullopt;
  netcheck::Options o;
  o.timeout = c.timeout_ms * derp::kMillisecond;
  o.ipv4 = c.ipv4 != 0;
  o.ipv6 = c.ipv6 != 0;
  o.tries = static_cast<int>(c.tries);
  o.retry_interval = c.retry_interval_ms * derp::kMillisecond;
  o.enough_regions = static_cast<int>(c.enough_regions);
  o.previous_home = c.previous_home;
  o.previous_home_active = c.previous_home_active != 0;
  return o;
}

// Copies text into a fixed field, cut so that no UTF-8 character is split, always NUL-terminated.
void copy_text(std::string_view text, char* out, std::size_t cap) {
  std::size_t n = std::min(text.size(), cap - 1);
  if (n < text.size()) {
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;  // back off a continuation byte
  }
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
}

std::int64_t micros(const std::optional<derp::Nanos>& d) {
  if (!d) return -1;
  return static_cast<std::int64_t>(*d / 1000);
}

derp_netcheck_report_t blank_report() {
  derp_netcheck_report_t r{};
  r.struct_size = sizeof r;
  r.mapping_varies_by_dest_ip = -1;
  return r;
}

derp_netcheck_report_t to_c_report(const netcheck::Report& report, const derp::client::DerpMap& map) {
  derp_netcheck_report_t c = blank_report();
  c.udp = report.udp ? 1 : 0;
  c.ipv4 = report.ipv4 ? 1 : 0;
  c.ipv6 = report.ipv6 ? 1 : 0;
  c.global_v4 = report.global_v4;
  c.global_v6 = report.global_v6;
  if (report.mapping_varies_by_dest_ip) c.mapping_varies_by_dest_ip = *report.mapping_varies_by_dest_ip ? 1 : 0;
  c.preferred_region = report.preferred_region;
  c.timed_out = report.timed_out ? 1 : 0;
  for (const netcheck::RegionLatency& r : report.regions) {
    if (c.region_count == DERP_NETCHECK_MAX_REGIONS) {
      c.regions_truncated = 1;
      break;
    }
    derp_netcheck_region& out = c.regions[c.region_count++];
    out.region_id = r.region_id;
    if (const auto it = map.regions.find(r.region_id); it != map.regions.end()) {
      copy_text(it->second.region_code, out.region_code, sizeof out.region_code);
      copy_text(it->second.region_name, out.region_name, sizeof out.region_name);
    }
    out.latency_us = micros(r.best());
    out.latency_v4_us = micros(r.v4);
    out.latency_v6_us = micros(r.v6);
  }
  return c;
}

// One run on a private loop. The loop is closed before returning (after any lookup still running has ended).
int run_on_private_loop(const derp::client::DerpMap& map, const netcheck::Options& options,
                        netcheck::Report* report) {
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return DERP_ERR_UV_LOOP;
  bool reported = false;
  int rc = derp::uv::UvNetcheck::start(&loop, map, options, [&](const netcheck::Report& r) {
    *report = r;
    reported = true;
  });
  if (rc == DERP_OK) {
    uv_run(&loop, UV_RUN_DEFAULT);
    if (!reported) rc = DERP_ERR_INTERNAL;
  }
  // Everything of the run has closed itself once uv_run returns; a second pass settles any stray close callback.
  if (uv_loop_close(&loop) != 0) {
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }
  return rc;
}

}  // namespace


extern "C" {

int derp_netcheck_options_init(derp_netcheck_options* opts, std::size_t struct_size) {
  return derp::capi::guarded([&]() -> int {
    return derp::capi::init_versioned(opts, struct_size, default_options());
  });
}

int derp_netcheck_report_init(derp_netcheck_report_t* report, std::size_t struct_size) {
  return derp::capi::guarded([&]() -> int {
    return derp::capi::init_versioned(report, struct_size, blank_report());
  });
}

int derp_uv_netcheck_run(const char* derpmap_json, std::size_t len, const derp_netcheck_options* opts,
                         derp_netcheck_report_t* out) {
  return derp::capi::guarded([&]() -> int {
    if (derpmap_json == nullptr || out == nullptr || out->struct_size < kMinStructSize) {
      return DERP_ERR_INVALID_ARGUMENT;
    }
    if (len == 0) len = std::strlen(derpmap_json);  // 0: NUL-terminated, as derp_uv_client_options reads it
    if (opts != nullptr && opts->struct_size < kMinStructSize) return DERP_ERR_INVALID_ARGUMENT;
    const derp_netcheck_options c = opts == nullptr ? default_options() : read_prefix(opts, default_options());
    const std::optional<netcheck::Options> options = to_options(c);
    if (!options) return DERP_ERR_INVALID_ARGUMENT;
    derp::client::DerpMap map;
    if (const int rc = derp::client::parse_derp_map(std::string_view(derpmap_json, len), &map); rc != DERP_OK) {
      return rc;
    }
    netcheck::Report report;
    if (const int rc = run_on_private_loop(map, *options, &report); rc != DERP_OK) return rc;
    write_prefix(out, to_c_report(report, map));
    return DERP_OK;
  });
}

}  // extern "C"
