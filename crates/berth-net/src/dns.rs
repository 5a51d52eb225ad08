//! The embedded DNS server for containers on user-defined networks (what
//! Docker serves on 127.0.0.11): names the daemon knows (containers,
//! aliases) are answered locally, everything else is relayed to the host's
//! resolvers.
//!
//! The listening sockets are bound by the caller (typically inside the
//! container's network namespace); the forwarding sockets are created by the
//! tasks spawned here, i.e. in whatever namespace the runtime's threads live
//! in — the host's — which is why loopback upstreams such as
//! systemd-resolved's 127.0.0.53 work.
//!
//! hickory-proto is used only as a message codec; forwarded queries and their
//! answers are relayed byte for byte.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::timeout;

/// Answers for the names a container may resolve: Some(addresses) when the
/// name (already lower-cased, without the trailing dot) is known — an empty
/// Vec means "known but no IPv4" (answer NOERROR with no records for AAAA etc.).
pub type Lookup = Arc<dyn Fn(&str) -> Option<Vec<Ipv4Addr>> + Send + Sync>;

/// TTL of the records answered locally (Docker's value).
const LOCAL_TTL: u32 = 600;
/// How long one upstream gets to answer one forwarded query.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// Queries (UDP datagrams) handled at once; extra datagrams are dropped,
/// as the kernel would drop them on a full socket buffer.
const MAX_UDP_INFLIGHT: usize = 256;
/// TCP connections served at once; extra connections are closed at once.
const MAX_TCP_CONNS: usize = 32;
/// A TCP connection with no complete query for this long is closed.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest UDP answer built locally (and advertised in EDNS); larger
/// answers are truncated (TC set) so the client retries over TCP.
const UDP_PAYLOAD_CAP: u16 = 1232;
/// Classic DNS message size limit without EDNS.
const UDP_PAYLOAD_MIN: usize = 512;
/// Size of the DNS header.
const HEADER_LEN: usize = 12;
/// Response codes (low 4 bits of header byte 3) after which the next
/// upstream is tried.
const RCODE_SERVFAIL: u8 = 2;
const RCODE_REFUSED: u8 = 5;

/// Serve DNS on `udp` (already bound, e.g. to 127.0.0.11:53 inside a container's
/// network namespace) and, if given, `tcp` (a listener on the same address),
/// until the returned handle is dropped/aborted.
///
/// Must be called from within a tokio runtime. Note that dropping a tokio
/// `JoinHandle` detaches the task rather than stopping it: call
/// [`JoinHandle::abort`] to stop the server (all per-query tasks and TCP
/// connections are owned by the server task and stop with it).
pub fn spawn(
    udp: UdpSocket,
    tcp: Option<TcpListener>,
    lookup: Lookup,
    upstream: Vec<SocketAddr>,
) -> JoinHandle<()> {
    let ctx = Arc::new(Ctx { lookup, upstream });
    tokio::spawn(serve(Arc::new(udp), tcp, ctx))
}

/// The host's resolvers from a resolv.conf text (port 53), loopback ones included
/// (the forwarder runs in the host's namespace, where they work).
pub fn upstreams(resolv_conf: &str) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for line in resolv_conf.lines() {
        let line = line.split(['#', ';']).next().unwrap_or_default();
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        let Some(addr) = words.next().and_then(parse_nameserver) else {
            continue;
        };
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    out
}

/// `192.0.2.1`, `2001:db8::1`, `fe80::1%eth0` or `fe80::1%2` → port 53.
fn parse_nameserver(word: &str) -> Option<SocketAddr> {
    let (ip, zone) = match word.split_once('%') {
        Some((ip, zone)) => (ip, Some(zone)),
        None => (word, None),
    };
    match ip.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) if zone.is_none() => Some(SocketAddr::from((v4, 53))),
        IpAddr::V4(_) => None,
        IpAddr::V6(v6) => {
            let scope = match zone {
                None => 0,
                Some(zone) => zone.parse().ok().or_else(|| if_index(zone))?,
            };
            Some(SocketAddrV6::new(v6, 53, 0, scope).into())
        }
    }
}

/// The index of the (host) interface `name`, if it exists.
fn if_index(name: &str) -> Option<u32> {
    let name = std::ffi::CString::new(name).ok()?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call;
    // if_nametoindex only reads it.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    (index != 0).then_some(index)
}

struct Ctx {
    lookup: Lookup,
    upstream: Vec<SocketAddr>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Proto {
    Udp,
    Tcp,
}

async fn serve(udp: Arc<UdpSocket>, tcp: Option<TcpListener>, ctx: Arc<Ctx>) {
    let udp_slots = Arc::new(Semaphore::new(MAX_UDP_INFLIGHT));
    let tcp_slots = Arc::new(Semaphore::new(MAX_TCP_CONNS));
    // Owning the per-query tasks here means aborting the server stops them.
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; u16::MAX as usize];
    loop {
        tokio::select! {
            Some(done) = tasks.join_next() => {
                if let Err(e) = done
                    && e.is_panic()
                {
                    tracing::warn!("dns: query task panicked");
                }
            }
            received = udp.recv_from(&mut buf) => match received {
                Ok((len, peer)) => {
                    let Ok(permit) = udp_slots.clone().try_acquire_owned() else {
                        tracing::debug!("dns: too many queries in flight, dropping one from {peer}");
                        continue;
                    };
                    let query = buf[..len].to_vec();
                    tasks.spawn(udp_query(udp.clone(), peer, query, ctx.clone(), permit));
                }
                Err(e) => {
                    // Transient (e.g. ICMP-induced) errors: don't spin on them.
                    tracing::debug!("dns: udp receive: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            accepted = accept(tcp.as_ref()) => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = tcp_slots.clone().try_acquire_owned() else {
                        tracing::debug!("dns: too many tcp connections, closing one from {peer}");
                        continue;
                    };
                    tasks.spawn(tcp_conn(stream, ctx.clone(), permit));
                }
                Err(e) => {
                    // e.g. EMFILE: back off instead of spinning.
                    tracing::debug!("dns: tcp accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

async fn accept(tcp: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match tcp {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

async fn udp_query(
    socket: Arc<UdpSocket>,
    peer: SocketAddr,
    query: Vec<u8>,
    ctx: Arc<Ctx>,
    _permit: OwnedSemaphorePermit,
) {
    if let Some(reply) = handle(&query, &ctx, Proto::Udp).await
        && let Err(e) = socket.send_to(&reply, peer).await
    {
        tracing::debug!("dns: udp reply to {peer}: {e}");
    }
}

/// Serves the queries of one TCP connection, one after the other.
async fn tcp_conn(mut stream: TcpStream, ctx: Arc<Ctx>, _permit: OwnedSemaphorePermit) {
    loop {
        let Ok(Ok(query)) = timeout(TCP_IDLE_TIMEOUT, read_framed(&mut stream)).await else {
            return;
        };
        let Some(reply) = handle(&query, &ctx, Proto::Tcp).await else {
            continue;
        };
        let Ok(framed) = frame(&reply) else {
            continue;
        };
        if !matches!(
            timeout(TCP_IDLE_TIMEOUT, stream.write_all(&framed)).await,
            Ok(Ok(()))
        ) {
            return;
        }
    }
}

/// Reads one length-prefixed (RFC 1035 §4.2.2) message.
async fn read_framed(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut msg = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut msg).await?;
    Ok(msg)
}

/// Prefixes `msg` with its length, for TCP.
fn frame(msg: &[u8]) -> std::io::Result<Vec<u8>> {
    let len = u16::try_from(msg.len())
        .map_err(|_| std::io::Error::other("DNS message too long for TCP"))?;
    let mut out = Vec::with_capacity(msg.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(msg);
    Ok(out)
}

/// The reply to one raw query, or None when the query is to be ignored.
async fn handle(raw: &[u8], ctx: &Ctx, proto: Proto) -> Option<Vec<u8>> {
    let query = Message::from_vec(raw).ok()?;
    if query.metadata.message_type != MessageType::Query {
        return None;
    }
    if query.metadata.op_code != OpCode::Query {
        return error_reply(&query, ResponseCode::NotImp);
    }
    let [question] = query.queries.as_slice() else {
        return error_reply(&query, ResponseCode::FormErr);
    };
    if question.query_class() == DNSClass::IN
        && let Some(name) = lookup_key(question.name())
        && let Some(addrs) = (ctx.lookup)(&name)
    {
        return local_reply(&query, question, &addrs, proto);
    }
    match forward(raw, query.metadata.id, proto, &ctx.upstream).await {
        Some(reply) => Some(reply),
        None => error_reply(&query, ResponseCode::ServFail),
    }
}

/// The name as handed to [`Lookup`]: lower-cased, no trailing dot; None for
/// the root and for names no container can have (odd bytes, dots in labels).
fn lookup_key(name: &Name) -> Option<String> {
    let mut key = String::new();
    for label in name.iter() {
        if label.is_empty() || !label.iter().all(|b| b.is_ascii_graphic() && *b != b'.') {
            return None;
        }
        if !key.is_empty() {
            key.push('.');
        }
        key.extend(label.iter().map(|b| char::from(b.to_ascii_lowercase())));
    }
    (!key.is_empty()).then_some(key)
}

/// A reply skeleton: same id/opcode/RD, RA set, EDNS echoed when present.
fn reply_to(query: &Message, rcode: ResponseCode) -> Message {
    let mut reply = Message::error_msg(query.metadata.id, query.metadata.op_code, rcode);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    if query.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(UDP_PAYLOAD_CAP);
        reply.set_edns(edns);
    }
    reply
}

fn error_reply(query: &Message, rcode: ResponseCode) -> Option<Vec<u8>> {
    let mut reply = reply_to(query, rcode);
    if query.queries.len() == 1 {
        reply.add_queries(query.queries.iter().cloned());
    }
    reply.to_vec().ok()
}

fn local_reply(
    query: &Message,
    question: &Query,
    addrs: &[Ipv4Addr],
    proto: Proto,
) -> Option<Vec<u8>> {
    let mut reply = reply_to(query, ResponseCode::NoError);
    reply.metadata.authoritative = true;
    reply.add_query(question.clone());
    if matches!(question.query_type(), RecordType::A | RecordType::ANY) {
        reply.add_answers(
            addrs
                .iter()
                .map(|&ip| Record::from_rdata(question.name().clone(), LOCAL_TTL, RData::A(A(ip)))),
        );
    }
    let limit = match proto {
        Proto::Tcp => u16::MAX as usize,
        Proto::Udp => usize::from(query.max_payload().min(UDP_PAYLOAD_CAP)).max(UDP_PAYLOAD_MIN),
    };
    let mut bytes = reply.to_vec().ok()?;
    if bytes.len() > limit {
        // Too many addresses: send what fits, flagged as truncated so the
        // client can retry over TCP.
        reply.metadata.truncation = true;
        let all = std::mem::take(&mut reply.answers);
        let base = reply.to_vec().ok()?.len();
        // A compressed A record is 16 bytes.
        let fits = limit.saturating_sub(base) / 16;
        reply.answers = all.into_iter().take(fits).collect();
        bytes = reply.to_vec().ok()?;
        while bytes.len() > limit && reply.answers.pop().is_some() {
            bytes = reply.to_vec().ok()?;
        }
    }
    Some(bytes)
}

/// Relays `raw` to the upstreams in order and returns the first answer that
/// is not SERVFAIL/REFUSED (or else the last such answer, if any).
async fn forward(raw: &[u8], id: u16, proto: Proto, upstream: &[SocketAddr]) -> Option<Vec<u8>> {
    let mut fallback = None;
    for &server in upstream {
        let exchange = async {
            match proto {
                Proto::Udp => udp_exchange(raw, id, server).await,
                Proto::Tcp => tcp_exchange(raw, id, server).await,
            }
        };
        match timeout(UPSTREAM_TIMEOUT, exchange).await {
            Ok(Ok(reply)) => {
                let rcode = reply[3] & 0x0f;
                if rcode == RCODE_SERVFAIL || rcode == RCODE_REFUSED {
                    fallback = Some(reply);
                    continue;
                }
                return Some(reply);
            }
            Ok(Err(e)) => tracing::debug!("dns: upstream {server} ({proto:?}): {e}"),
            Err(_) => tracing::debug!("dns: upstream {server} ({proto:?}): timed out"),
        }
    }
    fallback
}

/// Whether `reply` (at least a header long) answers the query with `id`.
fn is_reply_to(reply: &[u8], id: u16) -> bool {
    reply.len() >= HEADER_LEN && reply[..2] == id.to_be_bytes() && reply[2] & 0x80 != 0
}

/// One query over UDP, from a fresh socket (random source port), connected
/// so only the upstream's datagrams are accepted. A truncated answer is
/// relayed as is: the client then retries over TCP, which we forward over TCP.
async fn udp_exchange(raw: &[u8], id: u16, server: SocketAddr) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(server).await?;
    socket.send(raw).await?;
    let mut buf = vec![0u8; u16::MAX as usize];
    loop {
        let len = socket.recv(&mut buf).await?;
        if is_reply_to(&buf[..len], id) {
            buf.truncate(len);
            return Ok(buf);
        }
    }
}

/// One query over TCP.
async fn tcp_exchange(raw: &[u8], id: u16, server: SocketAddr) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(server).await?;
    stream.write_all(&frame(raw)?).await?;
    loop {
        let reply = read_framed(&mut stream).await?;
        if is_reply_to(&reply, id) {
            return Ok(reply);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::str::FromStr;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const FAKE_ANSWER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);

    struct Server {
        udp: SocketAddr,
        tcp: SocketAddr,
        handle: JoinHandle<()>,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.handle.abort();
        }
    }

    /// UDP and TCP on the same 127.0.0.1 port.
    async fn bind_pair() -> (UdpSocket, TcpListener) {
        for _ in 0..20 {
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            if let Ok(tcp) = TcpListener::bind(udp.local_addr().unwrap()).await {
                return (udp, tcp);
            }
        }
        panic!("no free port pair");
    }

    async fn start(names: &[(&str, Vec<Ipv4Addr>)], upstream: Vec<SocketAddr>) -> Server {
        let table: HashMap<String, Vec<Ipv4Addr>> = names
            .iter()
            .map(|(n, a)| (n.to_string(), a.clone()))
            .collect();
        let lookup: Lookup = Arc::new(move |name| table.get(name).cloned());
        let (udp, tcp) = bind_pair().await;
        let (udp_addr, tcp_addr) = (udp.local_addr().unwrap(), tcp.local_addr().unwrap());
        Server {
            udp: udp_addr,
            tcp: tcp_addr,
            handle: spawn(udp, Some(tcp), lookup, upstream),
        }
    }

    fn query(name: &str, rtype: RecordType, id: u16) -> Message {
        let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
        msg.metadata.recursion_desired = true;
        msg.add_query(Query::query(Name::from_str(name).unwrap(), rtype));
        msg
    }

    async fn ask_udp(server: SocketAddr, msg: &Message) -> Message {
        let bytes = ask_udp_raw(server, &msg.to_vec().unwrap())
            .await
            .expect("no answer");
        Message::from_vec(&bytes).unwrap()
    }

    async fn ask_udp_raw(server: SocketAddr, raw: &[u8]) -> Option<Vec<u8>> {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.send_to(raw, server).await.unwrap();
        let mut buf = vec![0u8; 65535];
        let (len, _) = timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
            .await
            .ok()?
            .unwrap();
        buf.truncate(len);
        Some(buf)
    }

    async fn ask_tcp(server: SocketAddr, msgs: &[Message]) -> Vec<Message> {
        let mut stream = TcpStream::connect(server).await.unwrap();
        for msg in msgs {
            stream
                .write_all(&frame(&msg.to_vec().unwrap()).unwrap())
                .await
                .unwrap();
        }
        let mut out = Vec::new();
        for _ in msgs {
            let bytes = timeout(Duration::from_secs(5), read_framed(&mut stream))
                .await
                .unwrap()
                .unwrap();
            out.push(Message::from_vec(&bytes).unwrap());
        }
        out
    }

    fn fake_reply(raw: &[u8]) -> Option<Vec<u8>> {
        let query = Message::from_vec(raw).ok()?;
        let mut reply = Message::response(query.metadata.id, OpCode::Query);
        reply.metadata.recursion_available = true;
        reply.metadata.recursion_desired = query.metadata.recursion_desired;
        let question = query.queries.first()?.clone();
        reply.add_answer(Record::from_rdata(
            question.name().clone(),
            30,
            RData::A(A(FAKE_ANSWER)),
        ));
        reply.add_query(question);
        reply.to_vec().ok()
    }

    /// An upstream on 127.0.0.1 (UDP and TCP) answering FAKE_ANSWER to
    /// everything; counts the queries it gets.
    async fn fake_upstream() -> (SocketAddr, Arc<AtomicUsize>, JoinHandle<()>) {
        let (udp, tcp) = bind_pair().await;
        let addr = udp.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let counter = count.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65535];
            loop {
                tokio::select! {
                    Ok((len, peer)) = udp.recv_from(&mut buf) => {
                        counter.fetch_add(1, Ordering::SeqCst);
                        if let Some(reply) = fake_reply(&buf[..len]) {
                            udp.send_to(&reply, peer).await.unwrap();
                        }
                    }
                    Ok((mut stream, _)) = tcp.accept() => {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let query = read_framed(&mut stream).await.unwrap();
                        let reply = fake_reply(&query).unwrap();
                        stream.write_all(&frame(&reply).unwrap()).await.unwrap();
                    }
                }
            }
        });
        (addr, count, task)
    }

    /// A 127.0.0.1 UDP+TCP port nobody listens on (queries get refused).
    async fn dead_port() -> SocketAddr {
        let (udp, _tcp) = bind_pair().await;
        udp.local_addr().unwrap()
    }

    fn a_records(msg: &Message) -> Vec<Ipv4Addr> {
        msg.answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect()
    }

    fn ips(s: &[&str]) -> Vec<Ipv4Addr> {
        s.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[tokio::test]
    async fn dns_known_name_answers_a() {
        let server = start(&[("web", ips(&["10.0.0.2", "10.0.0.3"]))], vec![]).await;
        for name in ["web.", "WeB", "web"] {
            let reply = ask_udp(server.udp, &query(name, RecordType::A, 4242)).await;
            assert_eq!(reply.metadata.id, 4242);
            assert_eq!(reply.metadata.message_type, MessageType::Response);
            assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
            assert!(reply.metadata.recursion_available);
            assert!(reply.metadata.recursion_desired);
            assert_eq!(reply.queries.len(), 1);
            assert_eq!(a_records(&reply), ips(&["10.0.0.2", "10.0.0.3"]));
            assert!(reply.answers.iter().all(|r| r.ttl == LOCAL_TTL));
        }
        let reply = ask_udp(server.udp, &query("web.", RecordType::ANY, 7)).await;
        assert_eq!(a_records(&reply), ips(&["10.0.0.2", "10.0.0.3"]));
    }

    #[tokio::test]
    async fn dns_known_name_aaaa_is_empty_noerror() {
        let server = start(&[("web", ips(&["10.0.0.2"])), ("v6only", vec![])], vec![]).await;
        for (name, rtype) in [
            ("web.", RecordType::AAAA),
            ("web.", RecordType::MX),
            ("v6only.", RecordType::A),
        ] {
            let reply = ask_udp(server.udp, &query(name, rtype, 9)).await;
            assert_eq!(
                reply.metadata.response_code,
                ResponseCode::NoError,
                "{name} {rtype}"
            );
            assert!(reply.answers.is_empty());
            assert_eq!(reply.metadata.id, 9);
        }
    }

    #[tokio::test]
    async fn dns_unknown_name_is_forwarded() {
        let (up, count, _up_task) = fake_upstream().await;
        let server = start(&[("web", ips(&["10.0.0.2"]))], vec![up]).await;
        for (i, name) in ["example.com.", "nosuchcontainer."].into_iter().enumerate() {
            let id = 0xBEEF + i as u16;
            let reply = ask_udp(server.udp, &query(name, RecordType::A, id)).await;
            assert_eq!(reply.metadata.id, id);
            assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
            assert_eq!(a_records(&reply), vec![FAKE_ANSWER]);
            assert_eq!(reply.answers[0].ttl, 30);
        }
        assert_eq!(count.load(Ordering::SeqCst), 2);
        // A known name never reaches the upstream.
        ask_udp(server.udp, &query("web.", RecordType::A, 1)).await;
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn dns_dead_upstream_is_skipped() {
        let (up, count, _up_task) = fake_upstream().await;
        let server = start(&[], vec![dead_port().await, up]).await;
        let reply = ask_udp(server.udp, &query("example.org.", RecordType::A, 77)).await;
        assert_eq!(reply.metadata.id, 77);
        assert_eq!(a_records(&reply), vec![FAKE_ANSWER]);
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn dns_no_upstream_servfail() {
        for upstream in [vec![], vec![dead_port().await]] {
            let server = start(&[], upstream).await;
            let reply = ask_udp(server.udp, &query("example.com.", RecordType::A, 31337)).await;
            assert_eq!(reply.metadata.id, 31337);
            assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
            assert_eq!(reply.queries.len(), 1);
            assert!(reply.answers.is_empty());
        }
    }

    #[tokio::test]
    async fn dns_tcp_queries() {
        let (up, count, _up_task) = fake_upstream().await;
        let server = start(&[("db", ips(&["10.1.0.5"]))], vec![up]).await;
        let replies = ask_tcp(
            server.tcp,
            &[
                query("db.", RecordType::A, 1),
                query("example.com.", RecordType::A, 2),
                query("db.", RecordType::AAAA, 3),
            ],
        )
        .await;
        assert_eq!(replies[0].metadata.id, 1);
        assert_eq!(a_records(&replies[0]), ips(&["10.1.0.5"]));
        assert_eq!(replies[1].metadata.id, 2);
        assert_eq!(a_records(&replies[1]), vec![FAKE_ANSWER]);
        assert_eq!(replies[2].metadata.id, 3);
        assert_eq!(replies[2].metadata.response_code, ResponseCode::NoError);
        assert!(replies[2].answers.is_empty());
        // The forwarded one went upstream over TCP.
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn dns_large_answer_truncated_over_udp() {
        let many: Vec<Ipv4Addr> = (0..200u8).map(|i| Ipv4Addr::new(10, 2, 0, i)).collect();
        let server = start(&[("many", many.clone())], vec![]).await;
        let msg = query("many.", RecordType::A, 5);
        let raw = ask_udp_raw(server.udp, &msg.to_vec().unwrap())
            .await
            .unwrap();
        assert!(raw.len() <= 512, "{}", raw.len());
        let reply = Message::from_vec(&raw).unwrap();
        assert!(reply.metadata.truncation);
        assert!(!reply.answers.is_empty() && reply.answers.len() < many.len());
        let full = ask_tcp(server.tcp, &[msg]).await;
        assert!(!full[0].metadata.truncation);
        assert_eq!(a_records(&full[0]), many);
    }

    #[tokio::test]
    async fn dns_malformed_is_ignored() {
        let server = start(&[("web", ips(&["10.0.0.2"]))], vec![]).await;
        for junk in [
            &b""[..],
            b"\x01",
            b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07abc",
        ] {
            let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            socket.send_to(junk, server.udp).await.unwrap();
        }
        // A response (QR set) is not answered.
        let mut response = query("web.", RecordType::A, 3);
        response.metadata.message_type = MessageType::Response;
        let raw = response.to_vec().unwrap();
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket.send_to(&raw, server.udp).await.unwrap();
        let mut buf = [0u8; 512];
        assert!(
            timeout(Duration::from_millis(300), socket.recv_from(&mut buf))
                .await
                .is_err()
        );
        // Garbage on TCP just closes that connection.
        let mut stream = TcpStream::connect(server.tcp).await.unwrap();
        stream.write_all(b"\x00\x03abc\x00").await.unwrap();
        drop(stream);
        // Still serving.
        let reply = ask_udp(server.udp, &query("web.", RecordType::A, 8)).await;
        assert_eq!(a_records(&reply), ips(&["10.0.0.2"]));
        assert!(!server.handle.is_finished());
    }

    #[test]
    fn dns_upstreams_from_resolv_conf() {
        let conf = "# generated\n\
                    nameserver 127.0.0.53\n\
                    nameserver 192.0.2.1 # office\n\
                    ; nameserver 192.0.2.2\n\
                    search example.com\n\
                    nameserver 2001:db8::1\n\
                    nameserver fe80::1%3\n\
                    nameserver 192.0.2.1\n\
                    nameserver bogus\n\
                    nameserver\n\
                    options ndots:1\n";
        assert_eq!(
            upstreams(conf),
            vec![
                "127.0.0.53:53".parse::<SocketAddr>().unwrap(),
                "192.0.2.1:53".parse().unwrap(),
                "[2001:db8::1]:53".parse().unwrap(),
                SocketAddrV6::new("fe80::1".parse().unwrap(), 53, 0, 3).into(),
            ]
        );
        assert!(upstreams("").is_empty());
    }
}
