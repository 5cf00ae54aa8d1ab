//! Prometheus metrics on `/metrics` (`run --metrics-listen ADDR:PORT`; off by default).
//!
//! Each scrape builds the page from the same state `tandem status` shows (the loop's
//! [`Parts`] and one netlink dump of the kernel's table with its counters), so the two never
//! disagree. The VRRP metrics carry the names, label set and state encoding of the widely
//! used keepalived exporter (`iname`, `intf`, `vrid`, and `ip_address` on the state; 0 init,
//! 1 backup, 2 master, 3 fault) with the `tandem_` prefix instead of `keepalived_`:
//! dashboards carry over by renaming the prefix.
//!
//! The HTTP side is the least that serves a scraper: one `GET` per connection, answered and
//! closed; a request that does not arrive whole within 5 s, or is over 8 KiB, is dropped.

use super::check_durations::CheckDurations;
use super::control::Request;
use super::status::{self, Status};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::time::Duration;
use tandem_ipvs::TableStats;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, warn};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Instance {
    iname: String,
    intf: String,
    vrid: String,
}

/// A shared VRRP receiving socket.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VrrpSocket {
    intf: String,
    family: String,
    protocol: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceAddress {
    iname: String,
    intf: String,
    vrid: String,
    ip_address: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Dropped {
    iname: String,
    intf: String,
    vrid: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RealServer {
    virtual_server: String,
    real_server: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Service {
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Destination {
    service: String,
    real_server: String,
}

fn gauge<L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static>(
    registry: &mut Registry,
    name: &str,
    help: &str,
) -> Family<L, Gauge> {
    let f = Family::<L, Gauge>::default();
    registry.register(name, help, f.clone());
    f
}

fn counter<L: EncodeLabelSet + Clone + std::hash::Hash + Eq + std::fmt::Debug + Send + Sync + 'static>(
    registry: &mut Registry,
    name: &str,
    help: &str,
) -> Family<L, Counter> {
    let f = Family::<L, Counter>::default();
    registry.register(name, help, f.clone());
    f
}

fn as_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The page for `s` and the kernel's counters.
pub fn render(s: &Status, stats: &TableStats, durations: &CheckDurations) -> Result<String, std::fmt::Error> {
    let mut r = Registry::with_prefix("tandem");
    r.register(
        "check_duration_seconds",
        "How long health checks take, from start to result (a timed-out check: its timeout), by kind",
        durations.family(),
    );
    let up = Gauge::<i64>::default();
    r.register("up", "tandem runs (always 1 on a page it serves)", up.clone());
    up.set(1);
    let mails = counter::<Outcome>(
        &mut r,
        "email_alerts",
        "Email alerts: sent, failed (not sent, not retried), dropped (the queue to send was full)",
    );
    for (outcome, n) in super::email::counts() {
        mails.get_or_create(&Outcome { outcome: outcome.to_string() }).inc_by(n);
    }

    // VRRP, as keepalived's exporter names it.
    let state = gauge::<InstanceAddress>(
        &mut r,
        "vrrp_state",
        "State of the VRRP instance: 0 init, 1 backup, 2 master, 3 fault",
    );
    let priority =
        gauge::<Instance>(&mut r, "vrrp_effective_priority", "Priority after tracked scripts and interfaces");
    let rcvd = counter::<Instance>(&mut r, "advert_rcvd", "Adverts received");
    let sent = counter::<Instance>(&mut r, "advert_sent", "Adverts sent");
    let became = counter::<Instance>(&mut r, "become_master", "Transitions to master");
    let release = counter::<Instance>(&mut r, "release_master", "Transitions out of master");
    let pri_zero_rcvd = counter::<Instance>(&mut r, "pri_zero_rcvd", "Priority-0 adverts received");
    let pri_zero_sent = counter::<Instance>(&mut r, "pri_zero_sent", "Priority-0 adverts sent");
    let addr_list =
        counter::<Instance>(&mut r, "addr_list_err", "Adverts whose address list differs from this instance's");
    let ttl = counter::<Instance>(&mut r, "ip_ttl_err", "Adverts dropped for a TTL other than 255");
    let len = counter::<Instance>(&mut r, "packet_len_err", "Adverts dropped for their length");
    let invalid_type = counter::<Instance>(&mut r, "invalid_type_rcvd", "Adverts dropped for their type");
    let authtype =
        counter::<Instance>(&mut r, "invalid_authtype", "Adverts dropped for an unknown authentication type");
    let authtype_mismatch = counter::<Instance>(
        &mut r,
        "authtype_mismatch",
        "Adverts dropped for another authentication type than this instance's",
    );
    let interval = counter::<Instance>(
        &mut r,
        "advert_interval_err",
        "VRRPv2 adverts dropped for another advert interval than this instance's",
    );
    let auth = counter::<Instance>(&mut r, "auth_failure", "Adverts dropped for failed authentication");
    let dropped = counter::<Dropped>(&mut r, "advert_dropped", "Adverts dropped, by reason");
    for i in &s.vrrp_instances {
        let l = Instance { iname: i.name.clone(), intf: i.interface.clone(), vrid: i.vrid.to_string() };
        for a in &i.virtual_addresses {
            let ip = a.split('/').next().unwrap_or(a).to_string();
            let al =
                InstanceAddress { iname: l.iname.clone(), intf: l.intf.clone(), vrid: l.vrid.clone(), ip_address: ip };
            state.get_or_create(&al).set(i64::from(super::snapshot::state_code(&i.state)));
        }
        priority.get_or_create(&l).set(i64::from(i.effective_priority));
        let c = &i.counters;
        rcvd.get_or_create(&l).inc_by(c.adverts_received);
        sent.get_or_create(&l).inc_by(c.adverts_sent);
        became.get_or_create(&l).inc_by(c.became_master);
        release.get_or_create(&l).inc_by(c.released_master);
        pri_zero_rcvd.get_or_create(&l).inc_by(c.priority_zero_received);
        pri_zero_sent.get_or_create(&l).inc_by(c.priority_zero_sent);
        addr_list.get_or_create(&l).inc_by(c.address_list_mismatch);
        let d = |k: &str| c.dropped.get(k).copied().unwrap_or(0);
        ttl.get_or_create(&l).inc_by(d("ttl"));
        len.get_or_create(&l).inc_by(d("too_short") + d("bad_length"));
        invalid_type.get_or_create(&l).inc_by(d("bad_type"));
        authtype.get_or_create(&l).inc_by(d("bad_auth_type"));
        authtype_mismatch.get_or_create(&l).inc_by(d("auth_type_mismatch"));
        interval.get_or_create(&l).inc_by(d("interval_mismatch"));
        // keepalived counts a failed IPsec-AH check (ICV, SPI, sequence number) as auth_failure.
        auth.get_or_create(&l).inc_by(d("auth") + d("ah_icv") + d("ah_spi") + d("ah_replay"));
        for (reason, n) in &c.dropped {
            let dl =
                Dropped { iname: l.iname.clone(), intf: l.intf.clone(), vrid: l.vrid.clone(), reason: reason.clone() };
            dropped.get_or_create(&dl).inc_by(*n);
        }
    }

    // The shared receiving sockets: what reached no instance.
    let sock_rcvd =
        counter::<VrrpSocket>(&mut r, "vrrp_socket_received", "VRRP packets received on the interface's socket");
    let sock_unknown = counter::<VrrpSocket>(
        &mut r,
        "vrrp_socket_unknown_vrid",
        "VRRP packets for a VRID no instance on the interface has (counted by no instance)",
    );
    let sock_full =
        counter::<VrrpSocket>(&mut r, "vrrp_socket_queue_full", "VRRP packets an instance was too busy to take");
    for s in &s.vrrp_sockets {
        let l =
            VrrpSocket { intf: s.interface.clone(), family: s.family.to_string(), protocol: s.protocol.to_string() };
        sock_rcvd.get_or_create(&l).inc_by(s.received);
        sock_unknown.get_or_create(&l).inc_by(s.unknown_vrid);
        sock_full.get_or_create(&l).inc_by(s.queue_full);
    }

    // Real servers: the checks' verdict and the kernel's view.
    let rs_up = gauge::<RealServer>(&mut r, "real_server_up", "1 when the real server's checks pass");
    let rs_weight = gauge::<RealServer>(
        &mut r,
        "real_server_weight",
        "The real server's weight in the kernel's table (absent: not in it)",
    );
    let rs_active =
        gauge::<RealServer>(&mut r, "real_server_active_connections", "Established connections (ActiveConn)");
    let rs_inactive = gauge::<RealServer>(&mut r, "real_server_inactive_connections", "Other connections (InActConn)");
    let quorum = gauge::<Service>(
        &mut r,
        "virtual_server_quorum_up",
        "1 while the virtual server's alive weight reaches its quorum",
    );
    for v in &s.virtual_servers {
        quorum.get_or_create(&Service { service: v.name.clone() }).set(i64::from(v.quorum_up));
        for rs in &v.real_servers {
            let l = RealServer { virtual_server: v.name.clone(), real_server: rs.address.clone() };
            rs_up.get_or_create(&l).set(i64::from(rs.up));
            if let Some(w) = rs.ipvs_weight {
                rs_weight.get_or_create(&l).set(i64::from(w));
            }
            rs_active.get_or_create(&l).set(as_i64(rs.active_connections));
            rs_inactive.get_or_create(&l).set(as_i64(rs.inactive_connections));
        }
    }

    let refused = Gauge::<i64>::default();
    r.register(
        "ipvs_refused_changes",
        "Changes to the IPVS table the kernel refuses, retried at every reconcile (status: ipvs_refused)",
        refused.clone(),
    );
    refused.set(i64::try_from(s.ipvs_refused.len()).unwrap_or(i64::MAX));

    // The kernel's traffic counters, per service and per destination.
    let svc_conns = counter::<Service>(&mut r, "ipvs_service_connections", "Connections scheduled by the service");
    let svc_in = counter::<Service>(&mut r, "ipvs_service_in_bytes", "Bytes in through the service");
    let svc_out = counter::<Service>(&mut r, "ipvs_service_out_bytes", "Bytes out through the service");
    let dst_conns =
        counter::<Destination>(&mut r, "ipvs_destination_connections", "Connections scheduled to the destination");
    let dst_in = counter::<Destination>(&mut r, "ipvs_destination_in_bytes", "Bytes in to the destination");
    let dst_out = counter::<Destination>(&mut r, "ipvs_destination_out_bytes", "Bytes out from the destination");
    for (key, (svc, dests)) in &stats.services {
        let l = Service { service: key.to_string() };
        svc_conns.get_or_create(&l).inc_by(svc.conns);
        svc_in.get_or_create(&l).inc_by(svc.inbytes);
        svc_out.get_or_create(&l).inc_by(svc.outbytes);
        for (dk, d) in dests {
            let dl = Destination { service: l.service.clone(), real_server: dk.to_string() };
            dst_conns.get_or_create(&dl).inc_by(d.stats.conns);
            dst_in.get_or_create(&dl).inc_by(d.stats.inbytes);
            dst_out.get_or_create(&dl).inc_by(d.stats.outbytes);
        }
    }

    // Connection sync.
    let sync = &s.sync;
    if sync.interface.is_some() {
        let heard = Counter::<u64>::default();
        r.register("sync_heard_records", "Sync records heard on the sync group and port", heard.clone());
        heard.inc_by(sync.heard.records);
        let dropped = Counter::<u64>::default();
        r.register("sync_heard_dropped", "Sync datagrams a kernel backup would drop", dropped.clone());
        dropped.inc_by(sync.heard.dropped);
        let resync = Counter::<u64>::default();
        r.register("sync_resync_records_sent", "Records this director's bulk resyncs sent", resync.clone());
        resync.inc_by(sync.resync_records_sent);
        let master = Gauge::<i64>::default();
        r.register("sync_master_daemon", "1 while the kernel's master sync daemon runs", master.clone());
        master.set(i64::from(sync.daemons.contains(&"master")));
        let backup = Gauge::<i64>::default();
        r.register("sync_backup_daemon", "1 while the kernel's backup sync daemon runs", backup.clone());
        backup.set(i64::from(sync.daemons.contains(&"backup")));
        if let Some(t) = sync.table {
            let table = Gauge::<i64>::default();
            r.register("sync_table_connections", "Connections and templates in this director's table", table.clone());
            table.set(as_i64(t));
        }
        if let Some(b) = sync.behind {
            let behind = Gauge::<i64>::default();
            r.register(
                "sync_behind",
                "On a backup: connections the master holds that this director does not",
                behind.clone(),
            );
            behind.set(as_i64(b));
        }
    }

    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &r)?;
    Ok(out)
}

/// Serves `/metrics` on `listener` until the loop goes away.
pub async fn serve(listener: TcpListener, requests: mpsc::Sender<Request>, durations: CheckDurations) {
    loop {
        match listener.accept().await {
            Ok((stream, from)) => {
                let (requests, durations) = (requests.clone(), durations.clone());
                tokio::spawn(async move {
                    if let Err(e) = answer(stream, requests, durations).await {
                        debug!(%from, error = %e, "metrics connection");
                    }
                });
            }
            Err(e) => {
                warn!(error = %e, "metrics: accept failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        if requests.is_closed() {
            return;
        }
    }
}

/// Reads a request head: the request line, once the blank line that ends the head came.
async fn request_line(stream: &mut TcpStream) -> Result<String, String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed before the request ended".into());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            break;
        }
        if buf.len() > 8192 {
            return Err("request over 8 KiB".into());
        }
    }
    let text = String::from_utf8_lossy(&buf);
    Ok(text.lines().next().unwrap_or_default().to_string())
}

async fn answer(
    mut stream: TcpStream,
    requests: mpsc::Sender<Request>,
    durations: CheckDurations,
) -> Result<(), String> {
    let line = tokio::time::timeout(Duration::from_secs(5), request_line(&mut stream))
        .await
        .map_err(|_| "no request within 5 s".to_string())??;
    let mut words = line.split_whitespace();
    let (method, path) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
    let (code, kind, body) = match (method, path.split('?').next().unwrap_or_default()) {
        ("GET", "/metrics") => {
            let (s, stats) = status::gather(&requests).await?;
            let page = render(&s, &stats, &durations).map_err(|e| e.to_string())?;
            ("200 OK", "text/plain; version=0.0.4; charset=utf-8", page)
        }
        ("GET", "/") => ("200 OK", "text/plain; charset=utf-8", "tandem: metrics on /metrics\n".to_string()),
        ("GET", _) => ("404 Not Found", "text/plain; charset=utf-8", "not found\n".to_string()),
        _ => ("405 Method Not Allowed", "text/plain; charset=utf-8", "GET only\n".to_string()),
    };
    let head = format!(
        "HTTP/1.1 {code}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.map_err(|e| e.to_string())?;
    stream.write_all(body.as_bytes()).await.map_err(|e| e.to_string())?;
    stream.shutdown().await.map_err(|e| e.to_string())
}
