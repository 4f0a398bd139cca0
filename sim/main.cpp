// rostersync-sim: serves the simulator (sim/simulator.hpp) over HTTP on
// 127.0.0.1. With --port 0 the kernel picks a port; the first line on stdout
// is "rostersync-sim listening on 127.0.0.1:<port>".
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <CLI/CLI.hpp>

#include <boost/asio/write.hpp>

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "sim/simulator.hpp"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using rostersync::sim::Simulator;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

struct Latency {
  std::chrono::milliseconds imses{0};
  std::chrono::milliseconds ltiaas{0};
};

asio::awaitable<void> serve(tcp::socket socket, Simulator& sim, Latency latency) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, nothrow);
    (void)n;
    if (ec) co_return;
    auto& req = parser.get();
    std::string target(req.target());
    std::string soap_action(req[http::field::soapaction]);
    std::string authorization(req[http::field::authorization]);
    bool is_imses = req.method() == http::verb::post && target.find(".svc") != std::string::npos;
    bool is_page = req.method() == http::verb::get && target.rfind("/api/memberships", 0) == 0;
    int ops = is_imses ? Simulator::count_operations(req.body()) : 0;
    sim.in_flight_ops += ops;
    sim.max_in_flight_ops = std::max(sim.max_in_flight_ops, sim.in_flight_ops);
    if (is_page) sim.page_started(authorization);
    const bool is_nrps_page = req.method() == http::verb::get && target.rfind("/platform/contexts/", 0) == 0;
    auto wait = is_imses ? latency.imses : is_page || is_nrps_page ? latency.ltiaas : std::chrono::milliseconds(0);
    if (wait.count() > 0) {
      asio::steady_timer delay(stream.get_executor(), wait);
      co_await delay.async_wait(nothrow);
    }
    rostersync::sim::Request request{std::string(req.method_string()), target, std::string(req[http::field::host]),
                                     authorization, soap_action, req.body(),
                                     std::string(req[http::field::user_agent])};
    auto reply = sim.handle(request);
    if (reply.delay.count() > 0) {
      asio::steady_timer delay(stream.get_executor(), reply.delay);
      co_await delay.async_wait(nothrow);
    }
    sim.in_flight_ops -= ops;
    if (is_page) sim.page_finished(authorization);
    if (reply.delivery == rostersync::sim::Delivery::reset) {
      beast::error_code ignored;
      stream.socket().set_option(asio::socket_base::linger(true, 0), ignored);  // RST, not FIN
      stream.socket().close(ignored);
      co_return;
    }

    http::response<http::string_body> res{static_cast<http::status>(reply.status), req.version()};
    res.set(http::field::content_type, reply.content_type);
    res.set(http::field::server, "rostersync-sim");
    if (!reply.retry_after.empty()) res.set(http::field::retry_after, reply.retry_after);
    for (const auto& link : reply.links) res.insert(http::field::link, link);
    res.keep_alive(req.keep_alive() && reply.delivery == rostersync::sim::Delivery::normal);
    res.body() = std::move(reply.body);
    res.prepare_payload();
    if (reply.delivery != rostersync::sim::Delivery::normal) {
      // Damaged deliveries: the header promises the whole body.
      std::ostringstream head;
      head << res.base();
      std::string body = std::move(res.body());
      co_await asio::async_write(stream, asio::buffer(head.str()), nothrow);
      if (reply.delivery == rostersync::sim::Delivery::truncate) {
        co_await asio::async_write(stream, asio::buffer(body.data(), body.size() / 2), nothrow);
      } else {  // drip
        for (std::size_t at = 0; at < body.size(); at += 64) {
          asio::steady_timer tick(stream.get_executor(), std::chrono::milliseconds(20));
          co_await tick.async_wait(nothrow);
          auto [dec, dn] = co_await asio::async_write(stream, asio::buffer(body.data() + at, std::min<std::size_t>(64, body.size() - at)), nothrow);
          (void)dn;
          if (dec) co_return;
        }
      }
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
      co_return;
    }
    auto [wec, wn] = co_await http::async_write(stream, res, nothrow);
    (void)wn;
    if (wec || !res.keep_alive()) co_return;
  }
}

asio::awaitable<void> listen(tcp::acceptor& acceptor, Simulator& sim, Latency latency) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(nothrow);
    if (ec) co_return;
    asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), sim, latency), asio::detached);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"rostersync-sim: LTIAAS memberships API, LTI platform NRPS with its token endpoint, and itslearning IMS-ES endpoint simulator"};
  app.footer(
      "Accepts by default: LTIAAS API key sim-api-key, IMS-ES user sim-user with password sim-password, service keys "
      "course-<i>-key for the generated courses.\n"
      "Control API on the same port: GET /_sim/state, GET /_sim/rosters, POST|DELETE /_sim/rosters/<key>/members[/<id>], "
      "POST /_sim/rosters/<key>/members/<id>/roles, POST /_sim/memberships, DELETE /_sim/memberships/<id>, "
      "POST /_sim/faults, POST /_sim/platform (rostersync-sim(1) describes each).");
  rostersync::sim::Options options;
  unsigned short port = 0;
  int latency_ms = 0;
  int ltiaas_latency_ms = 0;
  app.add_option("--port", port, "TCP port on 127.0.0.1 (0 = pick a free one)");
  app.add_option("--contexts", options.contexts, "generated rosters (courses)")->check(CLI::Range(1, 100000));
  app.add_option("--members", options.members, "members per generated roster")->check(CLI::Range(1, 10000000));
  app.add_option("--seed", options.seed, "seed for generated names and ids");
  app.add_flag("--mix", options.mix, "add inactive, TestUser, keyless, unmapped-role and escaping-heavy members");
  app.add_option("--roster-file", options.roster_file, "JSON rosters {service_key: {context, members}} instead of generating")
      ->check(CLI::ExistingFile);
  app.add_option("--api-key", options.api_key, "LTIAAS API key to accept");
  app.add_option("--imses-user", options.imses_username, "IMS-ES user name to accept");
  app.add_option("--imses-password", options.imses_password, "IMS-ES password to accept");
  app.add_option("--imses-latency-ms", latency_ms, "delay before answering each IMS-ES call")->check(CLI::Range(0, 60000));
  app.add_option("--ltiaas-latency-ms", ltiaas_latency_ms, "delay before answering each roster page (LTIAAS or platform NRPS)")
      ->check(CLI::Range(0, 60000));
  std::string platform_key_file;
  app.add_option("--platform-public-key", platform_key_file, "the tool's public key (PEM): turns the platform side on")
      ->check(CLI::ExistingFile);
  app.add_option("--platform-client-id", options.platform_client_id, "client id the platform knows the tool by");
  app.add_option("--platform-deployment-id", options.platform_deployment_id, "deployment id the assertion must carry");
  app.add_option("--platform-key-id", options.platform_key_id, "kid of the tool's registered key");
  app.add_option("--platform-audience", options.platform_audience, "aud the assertion must carry (default: the token URL)");
  app.add_option("--token-lifetime", options.token_lifetime_s, "seconds a bearer token lives")->check(CLI::Range(1, 86400));
  app.add_option("--link-style", options.link_style, "NRPS Link paging: canvas, moodle, relative or split")
      ->check(CLI::IsMember({"canvas", "moodle", "relative", "split"}));
  CLI11_PARSE(app, argc, argv);
  if (!platform_key_file.empty()) {
    std::ifstream in(platform_key_file);
    options.platform_public_key_pem.assign(std::istreambuf_iterator<char>(in), {});
  }

  try {
    Simulator sim(options);
    asio::io_context ioc;
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    std::cout << "rostersync-sim listening on 127.0.0.1:" << acceptor.local_endpoint().port() << std::endl;
    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](auto, int) { ioc.stop(); });
    Latency latency{std::chrono::milliseconds(latency_ms), std::chrono::milliseconds(ltiaas_latency_ms)};
    asio::co_spawn(ioc, listen(acceptor, sim, latency), asio::detached);
    ioc.run();
  } catch (const std::exception& e) {
    std::cerr << "rostersync-sim: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
