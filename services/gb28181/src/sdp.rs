//! The SDP of a GB/T 28181 live-view INVITE (§9.2, Annex F): what vfed
//! offers (`s=Play`, PS over RTP, `y=` SSRC, `f=`) and what it reads of the
//! device's answer.

/// The offer for a live stream to `address`:`port`, over UDP (`setup`
/// `None`), or over TCP with vfed `passive` (listening, the device
/// connects) or `active` (connecting to the device).
pub fn live_offer(
    server_id: &str,
    address: &str,
    port: u16,
    ssrc: &str,
    setup: Option<&str>,
) -> String {
    let (protocol, setup) = match setup {
        Some(role) => (
            "TCP/RTP/AVP",
            format!("a=setup:{role}\r\na=connection:new\r\n"),
        ),
        None => ("RTP/AVP", String::new()),
    };
    format!(
        "v=0\r\no={server_id} 0 0 IN IP4 {address}\r\ns=Play\r\nc=IN IP4 {address}\r\nt=0 0\r\n\
         m=video {port} {protocol} 96 97 98\r\na=recvonly\r\n{setup}a=rtpmap:96 PS/90000\r\n\
         a=rtpmap:97 MPEG4/90000\r\na=rtpmap:98 H264/90000\r\ny={ssrc}\r\nf=\r\n"
    )
}

/// What an answer says (each field when present).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Answer {
    /// `c=` address.
    pub address: Option<String>,
    /// `m=video` port.
    pub port: Option<u16>,
    /// `y=` SSRC (decimal, as sent).
    pub ssrc: Option<String>,
}

/// Reads an answer leniently (unknown lines ignored, at most 64 lines).
pub fn parse_answer(body: &str) -> Answer {
    let mut answer = Answer::default();
    for line in body.lines().take(64) {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("c=") {
            answer.address = rest.split_whitespace().nth(2).map(str::to_owned);
        } else if let Some(rest) = line.strip_prefix("m=video") {
            answer.port = rest.split_whitespace().next().and_then(|p| p.parse().ok());
        } else if let Some(rest) = line.strip_prefix("y=") {
            let rest = rest.trim();
            if !rest.is_empty() && rest.len() <= 10 && rest.bytes().all(|b| b.is_ascii_digit()) {
                answer.ssrc = Some(rest.to_owned());
            }
        }
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_and_reads() {
        let offer = live_offer(
            "34020000002000000001",
            "127.0.0.1",
            30000,
            "0200000001",
            None,
        );
        assert!(offer.contains("m=video 30000 RTP/AVP 96") && offer.contains("y=0200000001\r\n"));
        let tcp = live_offer(
            "34020000002000000001",
            "127.0.0.1",
            30000,
            "0200000001",
            Some("passive"),
        );
        assert!(
            tcp.contains("m=video 30000 TCP/RTP/AVP 96") && tcp.contains("a=setup:passive\r\n")
        );
        let answer = parse_answer(
            "v=0\r\no=x 0 0 IN IP4 10.0.0.2\r\ns=Play\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\nm=video 15060 RTP/AVP 96\r\ny=0100000001\r\n",
        );
        assert_eq!(
            answer,
            Answer {
                address: Some("10.0.0.2".into()),
                port: Some(15060),
                ssrc: Some("0100000001".into())
            }
        );
    }
}
