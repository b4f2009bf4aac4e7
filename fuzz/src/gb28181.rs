//! Fuzz targets and seeds of the GB/T 28181 access point
//! (services/gb28181): the SIP parser and TCP framer, digest credentials,
//! the MANSCDP body reader and the PS demuxer, all fed by devices on the
//! network; and what an upper platform sends the node (queries, INVITE
//! offers, digest challenges: [`upper`]).

use vfed_gb28181::digest::Credentials;
use vfed_gb28181::manscdp::ManscdpBody;
use vfed_gb28181::ps::{PsDemuxer, mux_frame};
use vfed_gb28181::rtp::{self, FrameCollector, TcpDeframer};
use vfed_gb28181::sip::parse::head_for_answer;
use vfed_gb28181::sip::{Limits, StreamFramer, parse_message};
use vfed_gb28181::upper::Challenge;
use vfed_gb28181::upper::body::read_query;
use vfed_gb28181::upper::invite::{MediaMode, parse_offer};
use vfed_media::Codec;

/// SIP messages as datagrams and as a TCP stream split at every 7th byte;
/// what parses re-encodes to the same message; a refused message's head,
/// if any, parses. The Authorization header goes through the digest parser.
pub fn sip(data: &[u8]) {
    let limits = Limits::default();
    if let Ok(message) = parse_message(data, &limits, true) {
        // Re-encoding may lengthen a head (compact names spelled out,
        // folded lines joined): reparse with room for that.
        let roomy = Limits {
            max_message: limits.max_message * 2,
            max_head: limits.max_head * 2,
            max_header_line: limits.max_header_line * 2,
            ..limits
        };
        let again = parse_message(&message.to_bytes(), &roomy, true);
        assert_eq!(
            again.as_ref(),
            Ok(&message),
            "a parsed message does not re-parse the same"
        );
        if let Some(authorization) = message.headers.get("authorization")
            && let Ok(credentials) = Credentials::parse(authorization)
        {
            let _ = credentials.verify("REGISTER", "password");
        }
    } else {
        let _ = head_for_answer(data, &limits);
    }
    let mut framer = StreamFramer::new(limits);
    for chunk in data.chunks(7) {
        framer.push(chunk);
        loop {
            match framer.next_message() {
                Ok(Some(message)) => assert!(message.body.len() <= limits.max_body),
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(framer.buffered() <= limits.max_message + 7);
    }
}

/// MANSCDP bodies in any charset.
pub fn manscdp(data: &[u8]) {
    if let Ok((ManscdpBody::Catalog(page), _)) = ManscdpBody::parse(data) {
        for item in &page.items {
            assert!(item.device_id.chars().count() <= vfed_gb28181::manscdp::body::MAX_FIELD);
        }
    }
}

/// PS frames (the demuxer of live view): whatever the bytes, frames stay
/// within the limit, and each converts to an access unit or an error. The
/// same bytes as an RTP packet go through the parser and frame collector,
/// and as a TCP media stream through the RFC 4571 / `$` deframer.
pub fn ps(data: &[u8]) {
    let mut deframer = TcpDeframer::new();
    for chunk in data.chunks(5) {
        deframer.push(chunk);
        while let Some(packet) = deframer.next_packet() {
            assert!(packet.len() <= data.len());
        }
    }
    if let Some(packet) = rtp::parse(data) {
        assert!(packet.payload.len() <= data.len());
        let mut collector = FrameCollector::new(1024);
        for _ in 0..3 {
            for frame in collector.push(&packet) {
                assert!(frame.len() <= 1024);
            }
        }
    }
    let mut demuxer = PsDemuxer::new(64 * 1024);
    for part in [data, data] {
        let Ok(frames) = demuxer.demux(part) else {
            continue;
        };
        for frame in frames {
            assert!(frame.annexb.len() <= 64 * 1024);
            if let Ok(Some(unit)) = frame.access_unit(0) {
                assert!(
                    unit.unit.data.len() <= frame.annexb.len() + 4 * frame.annexb.len() / 3 + 4
                );
            }
        }
    }
}

/// PS seeds: H.264 and H.265 keyframes with a stream map, a frame without.
pub fn ps_seeds() -> Vec<Vec<u8>> {
    let h264 = [
        0, 0, 0, 1, 0x67, 0x42, 0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x38, 0x80, 0, 0, 1, 0x65, 0x88,
        0x84,
    ];
    let h265 = [
        0, 0, 0, 1, 0x40, 0x01, 0x0c, 0, 0, 0, 1, 0x42, 0x01, 0x01, 0, 0, 1, 0x26, 0x01, 0xaf,
    ];
    vec![
        mux_frame(Codec::H264, 3600, &h264, true),
        mux_frame(Codec::H265, (1 << 33) - 10, &h265, true),
        mux_frame(Codec::H264, 7200, &[0, 0, 1, 0x41, 0x9a, 0x01], false),
    ]
}

/// SIP seeds: a REGISTER with digest, a keepalive MESSAGE, a response.
pub fn sip_seeds() -> Vec<Vec<u8>> {
    let register = "REGISTER sip:34020000002000000001@3402000000 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5061;rport;branch=z9hG4bK1\r\n\
        From: <sip:34020000001320000001@3402000000>;tag=1\r\n\
        To: <sip:34020000001320000001@3402000000>\r\nCall-ID: abc\r\nCSeq: 2 REGISTER\r\n\
        Authorization: Digest username=\"34020000001320000001\", realm=\"3402000000\", \
        nonce=\"0000000065000000aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", uri=\"sip:34020000002000000001@3402000000\", \
        response=\"0123456789abcdef0123456789abcdef\", qop=auth, nc=00000001, cnonce=\"x\"\r\n\
        Expires: 3600\r\nContent-Length: 0\r\n\r\n";
    let body = "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Notify>\r\n<CmdType>Keepalive</CmdType>\r\n\
        <SN>1</SN>\r\n<DeviceID>34020000001320000001</DeviceID>\r\n<Status>OK</Status>\r\n</Notify>\r\n";
    let message = format!(
        "MESSAGE sip:34020000002000000001@3402000000 SIP/2.0\r\nv: SIP/2.0/TCP h;branch=z9hG4bK2\r\n\
         f: <sip:34020000001320000001@3402000000>;tag=2\r\nt: <sip:34020000002000000001@3402000000>\r\n\
         i: k\r\nCSeq: 3 MESSAGE\r\nc: Application/MANSCDP+xml\r\nl: {}\r\n\r\n{body}",
        body.len()
    );
    let response = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK3\r\nFrom: <sip:a@b>;tag=1\r\n\
        To: <sip:c@d>;tag=2\r\nCall-ID: r\r\nCSeq: 4 MESSAGE\r\nContent-Length: 0\r\n\r\n";
    vec![register.into(), message.into_bytes(), response.into()]
}

/// MANSCDP seeds: a catalog page (UTF-8 and GB18030), device info, keepalive.
pub fn manscdp_seeds() -> Vec<Vec<u8>> {
    let catalog = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<Response>\r\n<CmdType>Catalog</CmdType>\r\n\
        <SN>17</SN>\r\n<DeviceID>34020000001180000001</DeviceID>\r\n<SumNum>64</SumNum>\r\n\
        <DeviceList Num=\"2\">\r\n<Item>\r\n<DeviceID>34020000001310000001</DeviceID>\r\n<Name>大门</Name>\r\n\
        <Info><PTZType>1</PTZType></Info></Item>\r\n<Item DeviceID=\"34020000001310000002\" Name=\"&amp;\"/>\r\n\
        </DeviceList>\r\n</Response>\r\n";
    let gb = vfed_gb28181::manscdp::charset::encode_gb(&catalog.replace("UTF-8", "GB2312"));
    let info = "<?xml version=\"1.0\"?><Response><CmdType>DeviceInfo</CmdType><SN>3</SN>\
        <DeviceID>34020000001180000001</DeviceID><DeviceName>NVR</DeviceName><Channel>64</Channel>\
        <Result>OK</Result></Response>";
    let keepalive = "<Notify><CmdType>Keepalive</CmdType><SN>1</SN><DeviceID>1</DeviceID></Notify>";
    vec![catalog.into(), gb, info.into(), keepalive.into()]
}

/// What an upper platform sends a lower one: the same bytes as a MANSCDP
/// query, an INVITE's SDP offer and a digest challenge; what is accepted
/// keeps its rules (a 20-digit DeviceID, a media port unless vfed listens,
/// a bounded nonce), and the challenge's answer is computed.
pub fn upper(data: &[u8]) {
    if let Ok(query) = read_query(data) {
        assert!(query.device_id.len() == 20 && query.cmd_type.len() <= 32);
    }
    if let Ok(offer) = parse_offer(data) {
        assert!(offer.port != 0 || offer.mode == MediaMode::TcpPassive);
        assert!(offer.payload_type < 128);
    }
    if let Ok(challenge) = Challenge::parse(&String::from_utf8_lossy(data)) {
        assert!(!challenge.nonce.is_empty() && challenge.nonce.len() <= 256);
        let _ = challenge.answer("REGISTER", "sip:a@b", "34020000002000000001", "pw");
    }
}

/// Seeds of [`upper`]: a catalog query, a TCP offer, a challenge with qop.
pub fn upper_seeds() -> Vec<Vec<u8>> {
    vec![
        b"<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Query>\r\n<CmdType>Catalog</CmdType>\r\n\
          <SN>17</SN>\r\n<DeviceID>34020000002000000001</DeviceID>\r\n</Query>\r\n"
            .to_vec(),
        b"v=0\r\no=44010000002000000001 0 0 IN IP4 10.0.0.1\r\ns=Play\r\nc=IN IP4 10.0.0.1\r\n\
          t=0 0\r\nm=video 30000 TCP/RTP/AVP 96\r\na=recvonly\r\na=setup:active\r\n\
          a=rtpmap:96 PS/90000\r\ny=0100000001\r\n"
            .to_vec(),
        b"Digest realm=\"4401000000\", nonce=\"abc\", qop=\"auth,auth-int\", algorithm=MD5, opaque=\"o\""
            .to_vec(),
    ]
}
