#include "uv/hosted_uv_server.hpp"

#include <utility>

namespace derp::uv {

int HostedUvServer::create(HostedUvServerOptions options, std::unique_ptr<HostedUvServer>* out,
                           std::string* detail) {
  std::unique_ptr<HostedUvServer> s(new HostedUvServer());
  s->reconnect_in_ms_ = options.restart_reconnect_in_ms;
  s->try_for_ms_ = options.restart_try_for_ms;
  s->has_stun_ = !options.server.stun_listen.empty();
  UvServerOptions& so = options.server;
  if (so.tls_setup.mode != UvServerTlsMode::kOff && so.tls != nullptr) {
    *detail = "give either a TLS configuration or a TLS mode, not both";
    return DERP_ERR_INVALID_ARGUMENT;
  }
  if (const int rc = LoopHost::create(std::move(options.host), &s->host_, detail); rc != DERP_OK) return rc;
  if (const int rc = UvServer::create(s->host_->loop(), std::move(so), &s->server_, detail); rc != DERP_OK) {
    return rc;
  }
  s->cert_pin_ = s->server_->cert_pin();
  s->public_key_ = s->server_->core().public_key();
  *out = std::move(s);
  return DERP_OK;
}

HostedUvServer::~HostedUvServer() {
  if (host_) host_->wind_down([this] { server_->close(); });
  server_.reset();  // closes what is still open, running the loop until libuv released its handles
  host_.reset();
}

int HostedUvServer::listen_now(std::string* detail) {
  if (const int rc = server_->listen(detail); rc != DERP_OK) return rc;
  tcp_ = server_->tcp_addresses().at(0);
  if (!server_->stun_addresses().empty()) stun_ = server_->stun_addresses().front();
  started_.store(true, std::memory_order_release);
  return DERP_OK;
}

void HostedUvServer::begin_shutdown() {
  // Once stopped, the host-loop task queue closes: it must not outlive what it reaches.
  server_->shutdown(reconnect_in_ms_, try_for_ms_, [this] { host_->close_tasks(); });
}

int HostedUvServer::start(std::string* detail) {
  return host_->start_on_host_loop(/*tasks=*/true, [this, detail] { return listen_now(detail); }, detail);
}

int HostedUvServer::start_thread(std::string* detail) {
  // Bind first, on this thread (nobody runs the loop yet): errors come back synchronously.
  bool bound = false;
  const int rc = host_->start_thread(
      [&] {
        const int listened = listen_now(detail);
        bound = listened == DERP_OK;
        return listened;
      },
      {}, detail);
  if (rc != DERP_OK && bound) server_->close();  // the thread did not start: nobody will serve these sockets
  return rc;
}

void HostedUvServer::stop() { (void)host_->stop([this] { begin_shutdown(); }); }

std::string HostedUvServer::metrics_text() {
  std::string text;
  if (host_->thread_mode()) {
    // The counters belong to the loop thread: read them there (or after it finished, see LoopThread::call).
    (void)host_->call([&] { text = server_->core().metrics_text(); });
  } else {
    text = server_->core().metrics_text();
  }
  return text;
}

}  // namespace derp::uv
