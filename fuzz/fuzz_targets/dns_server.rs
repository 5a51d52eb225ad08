//! The embedded DNS server (berth-net's `dns::spawn`, what containers on
//! user networks query at 127.0.0.11): packets from the input are sent to a
//! real server on loopback, over UDP or TCP, and it must keep answering.
//! Its upstream list is empty, so nothing is ever forwarded; names it
//! knows are answered locally (one with enough addresses to need
//! truncation).
//!
//! The first byte picks the way: UDP, TCP, or the input as a resolv.conf
//! for `dns::upstreams`. After each packet a known query follows; its
//! answer proves the server survived the input.
#![no_main]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::runtime::Runtime;

/// The id of the known query that follows each input.
const SENTINEL_ID: u16 = 0xbe77;
/// Long enough for a loaded machine, short of libFuzzer's timeout.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

struct Harness {
    rt: Runtime,
    client: Client,
    _task: tokio::task::JoinHandle<()>,
}

/// The fuzzer's side of the conversation.
struct Client {
    server: SocketAddr,
    udp: UdpSocket,
    tcp: Option<TcpStream>,
}

fn lookup(name: &str) -> Option<Vec<Ipv4Addr>> {
    match name {
        "web" | "sentinel.berth" => Some(vec![Ipv4Addr::new(172, 18, 0, 2)]),
        "db.berth" => Some(vec![
            Ipv4Addr::new(172, 18, 0, 3),
            Ipv4Addr::new(172, 18, 0, 4),
        ]),
        "many" => Some((0..=255).map(|i| Ipv4Addr::new(10, 0, 1, i)).collect()),
        "v6only" => Some(vec![]),
        _ => None,
    }
}

fn harness() -> &'static Mutex<Harness> {
    static H: OnceLock<Mutex<Harness>> = OnceLock::new();
    H.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (server, udp, task) = rt.block_on(async {
            let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let server = sock.local_addr().unwrap();
            let listener = TcpListener::bind(server).await.unwrap();
            let task = berth_net::dns::spawn(sock, Some(listener), Arc::new(lookup), Vec::new());
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            (server, udp, task)
        });
        Mutex::new(Harness {
            rt,
            client: Client {
                server,
                udp,
                tcp: None,
            },
            _task: task,
        })
    })
}

/// A query for `sentinel.berth` A.
fn sentinel() -> Vec<u8> {
    let mut q = Vec::new();
    q.extend_from_slice(&SENTINEL_ID.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in ["sentinel", "berth"] {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

fn is_sentinel_answer(reply: &[u8]) -> bool {
    reply.len() >= 12 && reply[..2] == SENTINEL_ID.to_be_bytes() && reply[2] & 0x80 != 0
}

async fn over_udp(h: &Client, packet: &[u8]) {
    h.udp.send_to(packet, h.server).await.unwrap();
    h.udp.send_to(&sentinel(), h.server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, _) = h.udp.recv_from(&mut buf).await.unwrap();
        if is_sentinel_answer(&buf[..n]) {
            return;
        }
    }
}

async fn framed(stream: &mut TcpStream, packet: &[u8]) -> std::io::Result<()> {
    let mut msg = (packet.len() as u16).to_be_bytes().to_vec();
    msg.extend_from_slice(packet);
    stream.write_all(&msg).await
}

async fn over_tcp(h: &mut Client, packet: &[u8]) -> std::io::Result<()> {
    if h.tcp.is_none() {
        h.tcp = Some(TcpStream::connect(h.server).await?);
    }
    let stream = h.tcp.as_mut().unwrap();
    framed(stream, packet).await?;
    framed(stream, &sentinel()).await?;
    loop {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut reply = vec![0u8; u16::from_be_bytes(len).into()];
        stream.read_exact(&mut reply).await?;
        if is_sentinel_answer(&reply) {
            return Ok(());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&way, packet)) = data.split_first() else {
        return;
    };
    // Within one UDP datagram and one TCP frame.
    let packet = &packet[..packet.len().min(65_000)];
    let mut guard = harness().lock().unwrap_or_else(|e| e.into_inner());
    let Harness { rt, client, .. } = &mut *guard;
    match way % 3 {
        0 => rt.block_on(async {
            tokio::time::timeout(ANSWER_TIMEOUT, over_udp(client, packet))
                .await
                .expect("the DNS server stopped answering over UDP")
        }),
        1 => {
            let answered = rt.block_on(async {
                tokio::time::timeout(ANSWER_TIMEOUT, over_tcp(client, packet)).await
            });
            match answered {
                Ok(Ok(())) => {}
                // A connection the server closed (idle) is reopened once.
                Ok(Err(_)) => {
                    client.tcp = None;
                    rt.block_on(async {
                        tokio::time::timeout(ANSWER_TIMEOUT, over_tcp(client, packet))
                            .await
                            .expect("the DNS server stopped answering over TCP")
                            .expect("the DNS server closed a fresh TCP connection")
                    });
                }
                Err(_) => panic!("the DNS server stopped answering over TCP"),
            }
        }
        _ => {
            let _ = berth_net::dns::upstreams(&String::from_utf8_lossy(packet));
        }
    }
});
