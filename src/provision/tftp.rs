//! A read-only TFTP server for phones: RFC 1350, with option negotiation
//! (RFC 2347) for `blksize` (RFC 2348), `timeout` and `tsize` (RFC 2349).
//!
//! It answers file names the same way `/prov/` does. TFTP has neither
//! authentication nor encryption, so unless `tftp_serve_secrets` is set it
//! serves only files without SIP passwords; the common files carry the HTTP
//! provisioning URL, so phones move on to HTTP.
//!
//! Written here rather than taken from async-tftp 0.4, which ignores a
//! client's ERROR packet (its issue #18): phones that probe `tsize` and then
//! abort would have it retransmit until it timed out.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::Semaphore;

use super::{Answer, PhoneRequest, Provisioner};

const RRQ: u16 = 1;
const WRQ: u16 = 2;
const DATA: u16 = 3;
const ACK: u16 = 4;
const ERROR: u16 = 5;
const OACK: u16 = 6;

/// Largest block size RFC 2348 allows.
const MAX_BLOCK_SIZE: u16 = 65464;
const DEFAULT_BLOCK_SIZE: u16 = 512;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// Sends of one packet before the transfer is given up.
const TRIES: u32 = 5;
/// Sends of the first packet, before the client has shown it is at its
/// address by acknowledging anything: what a forged request can make
/// sipprov send to someone else.
const FIRST_TRIES: u32 = 2;
/// The longest per-packet timeout a client may ask for; a longer one is
/// not acknowledged, and the default applies.
const MAX_TIMEOUT_SECS: u8 = 5;
/// Transfers at once; past this, phones are told to come back.
const MAX_TRANSFERS: usize = 1024;
/// Transfers at once for one host, so one host cannot hold them all.
const MAX_TRANSFERS_PER_HOST: usize = 8;

/// RFC 1350 error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum ErrorCode {
    NotDefined = 0,
    FileNotFound = 1,
    AccessViolation = 2,
    IllegalOperation = 4,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Octet,
    /// Lines end in CR LF on the wire, a lone CR is CR NUL.
    Netascii,
}

/// A read request with the options sipprov understands; others are
/// ignored, as RFC 2347 allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    pub file: String,
    pub mode: Mode,
    pub block_size: Option<u16>,
    pub timeout: Option<u8>,
    pub wants_size: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Packet {
    Read(ReadRequest),
    Write,
    Ack(u16),
    Error(u16, String),
    /// Anything else a client should not send a read-only server.
    Other,
}

/// Why a packet could not be understood.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(&'static str);

pub fn parse(packet: &[u8]) -> Result<Packet, Malformed> {
    if packet.len() < 2 {
        return Err(Malformed("packet too short"));
    }
    let opcode = u16::from_be_bytes([packet[0], packet[1]]);
    let rest = &packet[2..];
    match opcode {
        RRQ => parse_read(rest).map(Packet::Read),
        WRQ => Ok(Packet::Write),
        ACK if rest.len() >= 2 => Ok(Packet::Ack(u16::from_be_bytes([rest[0], rest[1]]))),
        ERROR if rest.len() >= 2 => {
            let message = rest[2..].split(|b| *b == 0).next().unwrap_or_default();
            Ok(Packet::Error(
                u16::from_be_bytes([rest[0], rest[1]]),
                String::from_utf8_lossy(message).into_owned(),
            ))
        }
        ACK | ERROR => Err(Malformed("packet too short")),
        _ => Ok(Packet::Other),
    }
}

fn parse_read(body: &[u8]) -> Result<ReadRequest, Malformed> {
    // Fields are NUL-terminated; the last one must be terminated too.
    let Some(body) = body.strip_suffix(&[0]) else {
        return Err(Malformed("request not NUL-terminated"));
    };
    let mut fields = body.split(|b| *b == 0).map(|f| std::str::from_utf8(f).ok());
    let file = fields.next().flatten().filter(|f| !f.is_empty());
    let file = file.ok_or(Malformed("no file name"))?.to_string();
    let mode = match fields.next().flatten().map(str::to_ascii_lowercase).as_deref() {
        Some("octet") => Mode::Octet,
        Some("netascii") => Mode::Netascii,
        _ => return Err(Malformed("mode must be octet or netascii")),
    };
    let mut request = ReadRequest {
        file,
        mode,
        block_size: None,
        timeout: None,
        wants_size: false,
    };
    while let Some(name) = fields.next() {
        let value = fields.next().flatten().unwrap_or_default();
        match name.map(str::to_ascii_lowercase).as_deref() {
            Some("blksize") => {
                let size: u16 = value.parse().unwrap_or(MAX_BLOCK_SIZE);
                if size < 8 {
                    return Err(Malformed("blksize below 8"));
                }
                request.block_size = Some(size.min(MAX_BLOCK_SIZE));
            }
            Some("timeout") => match value.parse::<u8>() {
                Ok(t) if (1..=MAX_TIMEOUT_SECS).contains(&t) => request.timeout = Some(t),
                // Longer waits hold a transfer slot; the option is declined.
                Ok(t) if t > MAX_TIMEOUT_SECS => {}
                _ => return Err(Malformed("timeout must be 1 to 255 seconds")),
            },
            Some("tsize") => request.wants_size = true,
            _ => {}
        }
    }
    Ok(request)
}

fn error_packet(code: ErrorCode, message: &str) -> Vec<u8> {
    let mut packet = Vec::with_capacity(5 + message.len());
    packet.extend_from_slice(&ERROR.to_be_bytes());
    packet.extend_from_slice(&(code as u16).to_be_bytes());
    packet.extend_from_slice(message.as_bytes());
    packet.push(0);
    packet
}

fn data_packet(block: u16, data: &[u8]) -> Vec<u8> {
    let mut packet = Vec::with_capacity(4 + data.len());
    packet.extend_from_slice(&DATA.to_be_bytes());
    packet.extend_from_slice(&block.to_be_bytes());
    packet.extend_from_slice(data);
    packet
}

/// The options acknowledgement, or none when no option was asked for.
fn option_ack(request: &ReadRequest, size: usize) -> Option<Vec<u8>> {
    let mut options: Vec<(&str, String)> = Vec::new();
    if let Some(b) = request.block_size {
        options.push(("blksize", b.to_string()));
    }
    if let Some(t) = request.timeout {
        options.push(("timeout", t.to_string()));
    }
    if request.wants_size {
        options.push(("tsize", size.to_string()));
    }
    if options.is_empty() {
        return None;
    }
    let mut packet = OACK.to_be_bytes().to_vec();
    for (name, value) in options {
        packet.extend_from_slice(name.as_bytes());
        packet.push(0);
        packet.extend_from_slice(value.as_bytes());
        packet.push(0);
    }
    Some(packet)
}

/// Text as netascii puts it on the wire.
fn to_netascii(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 16);
    for &b in body {
        match b {
            b'\n' => out.extend_from_slice(b"\r\n"),
            b'\r' => out.extend_from_slice(b"\r\0"),
            _ => out.push(b),
        }
    }
    out
}

/// How the TFTP side answers.
#[derive(Debug, Clone, Copy)]
pub struct TftpOptions {
    /// Where phones find the HTTP side, for the provisioning URL that
    /// common files carry.
    pub http_port: u16,
    pub tls: bool,
    /// Whether files that carry passwords go out over TFTP, which has no
    /// encryption.
    pub serve_secrets: bool,
}

/// Serves read requests on `socket` until `shutdown` resolves. Each
/// transfer runs from a port of its own, as RFC 1350 requires.
pub async fn serve(
    socket: UdpSocket,
    phones: Arc<Provisioner>,
    options: TftpOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_TRANSFERS));
    // A phone that resends its request while the first is being answered
    // gets one transfer, not two; no host gets more than a few at once.
    let active: Arc<Mutex<Transfers>> = Arc::default();
    let bind_ip = socket.local_addr()?.ip();
    let mut buf = vec![0u8; 2048];
    tokio::pin!(shutdown);
    loop {
        let (len, peer) = tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                Ok(r) => r,
                // A stray ICMP error on the shared socket; keep serving.
                Err(err) => {
                    tracing::debug!(error = %err, "tftp receive");
                    continue;
                }
            },
            () = &mut shutdown => return Ok(()),
        };
        let request = match parse(&buf[..len]) {
            Ok(Packet::Read(request)) => request,
            Ok(Packet::Write) => {
                let _ = socket
                    .send_to(&error_packet(ErrorCode::AccessViolation, "read-only server"), peer)
                    .await;
                continue;
            }
            Ok(_) => continue,
            Err(err) => {
                let _ = socket
                    .send_to(&error_packet(ErrorCode::IllegalOperation, err.0), peer)
                    .await;
                continue;
            }
        };
        let admitted = active.lock().expect("tftp lock").admit(peer);
        let busy = match admitted {
            Admission::Duplicate => continue,
            Admission::HostBusy => true,
            Admission::Admitted => false,
        };
        let slot = if busy {
            None
        } else {
            slots.clone().try_acquire_owned().ok()
        };
        let Some(slot) = slot else {
            phones.metrics.tftp("refused");
            if !busy {
                active.lock().expect("tftp lock").end(peer);
            }
            let _ = socket
                .send_to(&error_packet(ErrorCode::NotDefined, "server busy, try again"), peer)
                .await;
            continue;
        };
        let (phones, active) = (phones.clone(), active.clone());
        tokio::spawn(async move {
            if let Err(err) = answer_request(&phones, bind_ip, peer, options, request).await {
                tracing::debug!(peer = %peer, error = %err, "tftp transfer socket");
            }
            active.lock().expect("tftp lock").end(peer);
            drop(slot);
        });
    }
}

/// The transfers under way, by client port and by host.
#[derive(Default)]
struct Transfers {
    peers: HashSet<SocketAddr>,
    per_host: HashMap<IpAddr, usize>,
}

enum Admission {
    Admitted,
    /// The same client port again: its request is being answered.
    Duplicate,
    /// The host has `MAX_TRANSFERS_PER_HOST` under way.
    HostBusy,
}

impl Transfers {
    fn admit(&mut self, peer: SocketAddr) -> Admission {
        if self.peers.contains(&peer) {
            return Admission::Duplicate;
        }
        let host = self.per_host.entry(peer.ip()).or_default();
        if *host >= MAX_TRANSFERS_PER_HOST {
            return Admission::HostBusy;
        }
        *host += 1;
        self.peers.insert(peer);
        Admission::Admitted
    }

    fn end(&mut self, peer: SocketAddr) {
        if self.peers.remove(&peer)
            && let Some(count) = self.per_host.get_mut(&peer.ip())
        {
            *count -= 1;
            if *count == 0 {
                self.per_host.remove(&peer.ip());
            }
        }
    }
}

async fn answer_request(
    phones: &Provisioner,
    bind_ip: IpAddr,
    peer: SocketAddr,
    options: TftpOptions,
    request: ReadRequest,
) -> std::io::Result<()> {
    let socket = UdpSocket::bind(SocketAddr::new(bind_ip, 0)).await?;
    socket.connect(peer).await?;
    // The address the phone reaches sipprov at, even on a wildcard listener.
    let local = socket.local_addr()?.ip();
    let host = match local {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => format!("[{v6}]:{}", options.http_port),
        _ => format!("{}:{}", local.to_canonical(), options.http_port),
    };
    let name = request.file.trim_start_matches('/');
    let secret = phones
        .packs
        .current()
        .resolve(name.rsplit('/').next().unwrap_or(name))
        .is_some_and(|m| m.kind.carries_secrets());
    let asked = PhoneRequest::get(
        peer.ip().to_canonical(),
        name,
        &host,
        if options.tls { "https" } else { "http" },
    );
    let answer = if secret && !options.serve_secrets {
        phones.refused_over_tftp(&asked);
        Answer::NotFound
    } else {
        phones.answer(&asked).await
    };
    let metrics = &phones.metrics;
    let body = match answer {
        Answer::File(rendered) => rendered.body.as_bytes().to_vec(),
        // Unknown, refused or unauthorised all read the same, as over HTTP.
        Answer::NotFound | Answer::ModelRefused | Answer::Unauthorized(_) => {
            metrics.tftp("not_found");
            return socket
                .send(&error_packet(ErrorCode::FileNotFound, "file not found"))
                .await
                .map(drop);
        }
        Answer::Forbidden => {
            metrics.tftp("forbidden");
            return socket
                .send(&error_packet(ErrorCode::AccessViolation, "forbidden"))
                .await
                .map(drop);
        }
        Answer::Throttled(_) | Answer::Unavailable | Answer::Stored => {
            metrics.tftp("refused");
            return socket
                .send(&error_packet(ErrorCode::NotDefined, "try again later"))
                .await
                .map(drop);
        }
    };
    let body = match request.mode {
        Mode::Octet => body,
        Mode::Netascii => to_netascii(&body),
    };
    let outcome = send_file(&socket, &request, &body).await;
    match &outcome {
        Ok(()) => {
            metrics.tftp("sent");
            tracing::info!(peer = %peer, file = name, bytes = body.len(), "tftp transfer done");
        }
        Err(end) => {
            metrics.tftp("failed");
            tracing::info!(peer = %peer, file = name, outcome = %end, "tftp transfer ended early");
        }
    }
    Ok(())
}

/// How a transfer ended before the last block was acknowledged.
#[derive(Debug, thiserror::Error)]
enum Ended {
    #[error("the client sent error {0}: {1}")]
    ByClient(u16, String),
    #[error("no acknowledgement in time")]
    TimedOut,
    #[error("the client sent a packet out of place")]
    Confused,
    #[error("socket: {0}")]
    Socket(#[from] std::io::Error),
}

async fn send_file(socket: &UdpSocket, request: &ReadRequest, body: &[u8]) -> Result<(), Ended> {
    let wait = request
        .timeout
        .map_or(DEFAULT_TIMEOUT, |t| Duration::from_secs(u64::from(t)));
    // Until the client acknowledges something, its address may be forged:
    // the first packet is sent fewer times.
    let mut tries = FIRST_TRIES;
    if let Some(oack) = option_ack(request, body.len()) {
        exchange(socket, &oack, 0, wait, tries).await?;
        tries = TRIES;
    }
    let size = usize::from(request.block_size.unwrap_or(DEFAULT_BLOCK_SIZE));
    // The last block is shorter than the block size, even if empty.
    let blocks = body.len() / size + 1;
    for n in 0..blocks {
        let chunk = &body[n * size..((n + 1) * size).min(body.len())];
        // Block numbers wrap after 65535, as most clients expect.
        let block = ((n + 1) % 65536) as u16;
        exchange(socket, &data_packet(block, chunk), block, wait, tries).await?;
        tries = TRIES;
    }
    Ok(())
}

/// Sends `packet` until block `block` is acknowledged. Older, duplicate
/// acknowledgements are ignored rather than answered, which avoids the
/// Sorcerer's Apprentice bug.
async fn exchange(socket: &UdpSocket, packet: &[u8], block: u16, wait: Duration, tries: u32) -> Result<(), Ended> {
    let mut buf = [0u8; 516];
    for _ in 0..tries {
        socket.send(packet).await?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let Ok(received) = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await else {
                break;
            };
            match parse(&buf[..received?]) {
                Ok(Packet::Ack(n)) if n == block => return Ok(()),
                Ok(Packet::Ack(_)) => continue,
                Ok(Packet::Error(code, message)) => return Err(Ended::ByClient(code, message)),
                _ => {
                    let _ = socket
                        .send(&error_packet(ErrorCode::IllegalOperation, "expected an ACK"))
                        .await;
                    return Err(Ended::Confused);
                }
            }
        }
    }
    Err(Ended::TimedOut)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rrq(fields: &[&str]) -> Vec<u8> {
        let mut packet = RRQ.to_be_bytes().to_vec();
        for f in fields {
            packet.extend_from_slice(f.as_bytes());
            packet.push(0);
        }
        packet
    }

    #[test]
    fn read_requests_with_and_without_options() {
        assert_eq!(
            parse(&rrq(&["y000000000000.boot", "octet"])).unwrap(),
            Packet::Read(ReadRequest {
                file: "y000000000000.boot".into(),
                mode: Mode::Octet,
                block_size: None,
                timeout: None,
                wants_size: false,
            })
        );
        let Packet::Read(r) = parse(&rrq(&[
            "cfg.xml",
            "NetASCII",
            "BLKSIZE",
            "1428",
            "tsize",
            "0",
            "timeout",
            "3",
            "windowsize",
            "4",
        ]))
        .unwrap() else {
            panic!("not a read request")
        };
        assert_eq!(
            (r.mode, r.block_size, r.timeout, r.wants_size),
            (Mode::Netascii, Some(1428), Some(3), true)
        );
        let Packet::Read(r) = parse(&rrq(&["f", "octet", "blksize", "100000"])).unwrap() else {
            panic!()
        };
        assert_eq!(r.block_size, Some(MAX_BLOCK_SIZE), "capped, not refused");
    }

    #[test]
    fn malformed_requests_are_named() {
        assert_eq!(parse(&[0]), Err(Malformed("packet too short")));
        assert_eq!(
            parse(b"\x00\x01file\x00octet"),
            Err(Malformed("request not NUL-terminated"))
        );
        assert_eq!(parse(&rrq(&["", "octet"])), Err(Malformed("no file name")));
        assert_eq!(
            parse(&rrq(&["f", "mail"])),
            Err(Malformed("mode must be octet or netascii"))
        );
        assert_eq!(
            parse(&rrq(&["f", "octet", "blksize", "7"])),
            Err(Malformed("blksize below 8"))
        );
        assert_eq!(
            parse(&rrq(&["f", "octet", "timeout", "0"])),
            Err(Malformed("timeout must be 1 to 255 seconds"))
        );
        assert_eq!(parse(b"\x00\x04\x00"), Err(Malformed("packet too short")));
    }

    #[test]
    fn acks_errors_and_writes() {
        assert_eq!(parse(b"\x00\x04\x01\x02").unwrap(), Packet::Ack(0x0102));
        assert_eq!(
            parse(b"\x00\x05\x00\x08size too big\x00").unwrap(),
            Packet::Error(8, "size too big".into())
        );
        assert!(parse(&rrq(&["x"])).is_err(), "no mode");
        let mut wrq = rrq(&["x", "octet"]);
        wrq[1] = 2;
        assert_eq!(parse(&wrq).unwrap(), Packet::Write);
    }

    #[test]
    fn option_ack_echoes_only_what_was_asked() {
        let mut request = ReadRequest {
            file: "f".into(),
            mode: Mode::Octet,
            block_size: None,
            timeout: None,
            wants_size: false,
        };
        assert_eq!(option_ack(&request, 10), None);
        request.block_size = Some(1024);
        request.wants_size = true;
        assert_eq!(
            option_ack(&request, 1234).unwrap(),
            b"\x00\x06blksize\x001024\x00tsize\x001234\x00".to_vec()
        );
    }

    #[test]
    fn netascii_line_ends() {
        assert_eq!(to_netascii(b"a\nb\rc"), b"a\r\nb\r\0c".to_vec());
    }
}
