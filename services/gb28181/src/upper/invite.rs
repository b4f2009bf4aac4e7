//! The upper's live-view INVITE offer (GB/T 28181 §9.2, Annex F) read
//! strictly, and vfed's answer: where to send PS over RTP, by UDP or TCP
//! (the upper `passive`: vfed connects; `active`: vfed listens), with
//! which SSRC (`y=`; vfed picks one when the upper gives none).

use std::net::IpAddr;

/// How the media goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaMode {
    /// RTP over UDP to the offer's address and port.
    Udp,
    /// RTP over TCP (RFC 4571); vfed connects to the offer's address and port.
    TcpActive,
    /// RTP over TCP (RFC 4571); vfed listens, the upper connects.
    TcpPassive,
}

/// What the offer asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// The receiver's address (`c=`).
    pub address: IpAddr,
    /// The receiver's port (`m=video`).
    pub port: u16,
    /// UDP or TCP, and who connects.
    pub mode: MediaMode,
    /// `y=`, when given.
    pub ssrc: Option<u32>,
    /// The payload type of `PS/90000` (96 when not mapped).
    pub payload_type: u8,
}

/// Why an offer is refused (answered 488 with the reason).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("sdp offer: {field}: {rule}")]
pub struct OfferError {
    /// The SDP field.
    pub field: &'static str,
    /// The rule.
    pub rule: &'static str,
}

fn refuse(field: &'static str, rule: &'static str) -> OfferError {
    OfferError { field, rule }
}

/// Most SDP lines read.
const MAX_LINES: usize = 64;

/// Reads an offer: `s=Play` only; `c=IN IP4|IP6 <address>`; `m=video
/// <port> RTP/AVP|TCP/RTP/AVP <formats>`; `a=setup:active|passive` with
/// TCP (passive when absent); `y=` of at most 10 digits within 32 bits.
pub fn parse_offer(body: &[u8]) -> Result<Offer, OfferError> {
    let text = std::str::from_utf8(body).map_err(|_| refuse("body", "must be UTF-8 text"))?;
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() > MAX_LINES {
        return Err(refuse("body", "at most 64 lines"));
    }
    let mut session = None;
    let mut address = None;
    let mut media = None;
    let mut setup = None;
    let mut ssrc = None;
    let mut ps_type = None;
    for line in lines {
        if let Some(rest) = line.strip_prefix("s=") {
            session = Some(rest.trim());
        } else if let Some(rest) = line.strip_prefix("c=") {
            let parts: Vec<&str> = rest.split_whitespace().collect();
            let [_, _, host] = parts[..] else {
                return Err(refuse("c", "IN IP4 <address>"));
            };
            let host: IpAddr = host.parse().map_err(|_| refuse("c", "an IP address"))?;
            if host.is_unspecified() || host.is_multicast() {
                return Err(refuse("c", "a unicast address"));
            }
            address.get_or_insert(host);
        } else if let Some(rest) = line.strip_prefix("m=") {
            let parts: Vec<&str> = rest.split_whitespace().collect();
            if parts.first() != Some(&"video") {
                continue;
            }
            if parts.len() < 4 {
                return Err(refuse("m", "video <port> <proto> <formats>"));
            }
            let port: u16 = parts[1]
                .parse()
                .map_err(|_| refuse("m", "a port 1-65535"))?;
            let tcp = match parts[2].to_ascii_uppercase().as_str() {
                "RTP/AVP" => false,
                "TCP/RTP/AVP" | "RTP/AVP/TCP" => true,
                _ => return Err(refuse("m", "protocol RTP/AVP or TCP/RTP/AVP")),
            };
            media = Some((port, tcp));
        } else if let Some(rest) = line.strip_prefix("a=setup:") {
            setup = Some(rest.trim().to_ascii_lowercase());
        } else if let Some(rest) = line.strip_prefix("a=rtpmap:") {
            let (pt, encoding) = rest.split_once(' ').unwrap_or((rest, ""));
            if encoding.trim().eq_ignore_ascii_case("PS/90000") {
                ps_type = pt.trim().parse::<u8>().ok().filter(|pt| *pt < 128);
            }
        } else if let Some(rest) = line.strip_prefix("y=") {
            let rest = rest.trim();
            if rest.is_empty() || rest.len() > 10 || !rest.bytes().all(|b| b.is_ascii_digit()) {
                return Err(refuse("y", "at most 10 digits"));
            }
            let value: u64 = rest.parse().map_err(|_| refuse("y", "a number"))?;
            ssrc = Some(u32::try_from(value).map_err(|_| refuse("y", "at most 4294967295"))?);
        }
    }
    match session {
        Some(s) if s.eq_ignore_ascii_case("play") => {}
        Some(_) => return Err(refuse("s", "only Play (live view) is served")),
        None => return Err(refuse("s", "required")),
    }
    let address = address.ok_or(refuse("c", "required"))?;
    let (port, tcp) = media.ok_or(refuse("m", "a video line is required"))?;
    let mode = match (tcp, setup.as_deref()) {
        (false, _) => MediaMode::Udp,
        (true, None | Some("passive")) => MediaMode::TcpActive,
        (true, Some("active")) => MediaMode::TcpPassive,
        (true, Some(_)) => return Err(refuse("a=setup", "active or passive")),
    };
    if port == 0 && mode != MediaMode::TcpPassive {
        return Err(refuse("m", "a port 1-65535"));
    }
    Ok(Offer {
        address,
        port,
        mode,
        ssrc,
        payload_type: ps_type.unwrap_or(96),
    })
}

/// The answer: vfed sends from `address`:`port` with `ssrc`.
pub fn answer(local_id: &str, address: IpAddr, port: u16, offer: &Offer, ssrc: u32) -> String {
    let family = if address.is_ipv6() { "IP6" } else { "IP4" };
    let (protocol, setup) = match offer.mode {
        MediaMode::Udp => ("RTP/AVP", ""),
        MediaMode::TcpActive => ("TCP/RTP/AVP", "a=setup:active\r\na=connection:new\r\n"),
        MediaMode::TcpPassive => ("TCP/RTP/AVP", "a=setup:passive\r\na=connection:new\r\n"),
    };
    let pt = offer.payload_type;
    format!(
        "v=0\r\no={local_id} 0 0 IN {family} {address}\r\ns=Play\r\nc=IN {family} {address}\r\nt=0 0\r\n\
         m=video {port} {protocol} {pt}\r\na=sendonly\r\n{setup}a=rtpmap:{pt} PS/90000\r\ny={ssrc:010}\r\nf=\r\n"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const UDP: &str = "v=0\r\no=44010000002000000001 0 0 IN IP4 127.0.0.1\r\ns=Play\r\n\
        c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 30000 RTP/AVP 96 98\r\na=recvonly\r\n\
        a=rtpmap:96 PS/90000\r\ny=0100000001\r\n";

    #[test]
    fn reads_udp_and_tcp_offers() {
        let offer = parse_offer(UDP.as_bytes()).unwrap();
        assert_eq!(
            (offer.port, offer.mode, offer.ssrc, offer.payload_type),
            (30000, MediaMode::Udp, Some(100_000_001), 96)
        );
        let tcp = UDP.replace("RTP/AVP 96 98", "TCP/RTP/AVP 96") + "a=setup:active\r\n";
        assert_eq!(
            parse_offer(tcp.as_bytes()).unwrap().mode,
            MediaMode::TcpPassive
        );
        let tcp = UDP.replace("RTP/AVP 96 98", "TCP/RTP/AVP 96") + "a=setup:passive\r\n";
        assert_eq!(
            parse_offer(tcp.as_bytes()).unwrap().mode,
            MediaMode::TcpActive
        );
        let no_y = UDP.replace("y=0100000001\r\n", "");
        assert_eq!(parse_offer(no_y.as_bytes()).unwrap().ssrc, None);
        let answer = answer(
            "34020000002000000001",
            "127.0.0.1".parse().unwrap(),
            4000,
            &offer,
            7,
        );
        assert!(
            answer.contains("m=video 4000 RTP/AVP 96\r\n") && answer.contains("y=0000000007\r\n")
        );
    }

    #[test]
    fn refuses_what_it_does_not_serve() {
        for (bad, field) in [
            (UDP.replace("s=Play", "s=Playback"), "s"),
            (UDP.replace("y=0100000001", "y=9999999999"), "y"),
            (UDP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0"), "c"),
            (UDP.replace("30000", "0"), "m"),
            (UDP.replace("RTP/AVP 96 98", "RTP/SAVP 96"), "m"),
        ] {
            assert_eq!(
                parse_offer(bad.as_bytes()).err().map(|e| e.field),
                Some(field),
                "{bad}"
            );
        }
    }
}
