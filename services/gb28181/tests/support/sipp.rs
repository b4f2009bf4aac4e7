//! SIPp (Debian `sip-tester`) as a GB/T 28181 device: scenarios written
//! here, run as a real process against the node.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use super::{DOMAIN, SERVER_ID, free_port};

/// One SIPp run: a scenario and how to run it.
pub struct Scenario {
    pub name: &'static str,
    pub device_id: String,
    pub steps: Vec<String>,
    pub tcp: bool,
    pub local_port: u16,
    /// Lines of the `-inf` CSV (after `SEQUENTIAL`), raw bytes.
    pub csv: Option<Vec<u8>>,
    pub extra_args: Vec<String>,
}

impl Scenario {
    pub fn new(name: &'static str, device_id: &str) -> Self {
        Self {
            name,
            device_id: device_id.to_owned(),
            steps: Vec::new(),
            tcp: false,
            local_port: free_port(),
            csv: None,
            extra_args: Vec::new(),
        }
    }

    /// Sends a request or response (SIPp keywords allowed).
    pub fn send(mut self, message: &str) -> Self {
        self.steps.push(format!(
            "<send><![CDATA[\n\n{}\n]]></send>",
            message.trim_matches('\n')
        ));
        self
    }

    /// Waits for a response code.
    pub fn expect(mut self, code: u16) -> Self {
        self.steps.push(format!("<recv response=\"{code}\"/>"));
        self
    }

    /// Waits for 401 and keeps its challenge for `[authentication]`.
    pub fn expect_challenge(mut self) -> Self {
        self.steps
            .push("<recv response=\"401\" auth=\"true\"/>".to_owned());
        self
    }

    pub fn pause(mut self, ms: u64) -> Self {
        self.steps.push(format!("<pause milliseconds=\"{ms}\"/>"));
        self
    }

    /// REGISTER to the server ID (the Request-URI and so the digest uri
    /// name the server, as Hikvision NVRs do); `auth` adds the digest with
    /// the device ID as username.
    pub fn register(self, cseq: u32, expires: u32, auth: Option<&str>) -> Self {
        let device = self.device_id.clone();
        let authorization = auth
            .map(|password| format!("[authentication username={device} password={password}]\n"))
            .unwrap_or_default();
        self.send(&format!(
            "REGISTER sip:{SERVER_ID}@{DOMAIN} SIP/2.0\n\
             Via: SIP/2.0/[transport] [local_ip]:[local_port];rport;branch=[branch]\n\
             From: <sip:{device}@{DOMAIN}>;tag=[pid]SIPpTag00[call_number]\n\
             To: <sip:{device}@{DOMAIN}>\n\
             Call-ID: [call_id]\n\
             CSeq: {cseq} REGISTER\n\
             Contact: <sip:{device}@[local_ip]:[local_port]>\n\
             Max-Forwards: 70\n\
             User-Agent: SIPp GB/T 28181 device\n\
             Expires: {expires}\n\
             {authorization}Content-Length: 0\n"
        ))
    }

    /// The full digest registration: REGISTER, 401, REGISTER with digest, 200.
    pub fn registered(self, password: &str) -> Self {
        self.register(1, 3600, None)
            .expect_challenge()
            .register(2, 3600, Some(password))
            .expect(200)
    }

    /// A MANSCDP MESSAGE with `body` (raw, may hold `[fieldN]`).
    pub fn manscdp(self, cseq: u32, body: &str) -> Self {
        let device = self.device_id.clone();
        self.send(&format!(
            "MESSAGE sip:{SERVER_ID}@{DOMAIN} SIP/2.0\n\
             Via: SIP/2.0/[transport] [local_ip]:[local_port];rport;branch=[branch]\n\
             From: <sip:{device}@{DOMAIN}>;tag=[pid]SIPpTag00[call_number]\n\
             To: <sip:{SERVER_ID}@{DOMAIN}>\n\
             Call-ID: [call_id]\n\
             CSeq: {cseq} MESSAGE\n\
             Content-Type: Application/MANSCDP+xml\n\
             Max-Forwards: 70\n\
             Content-Length: [len]\n\
             \n\
             {body}"
        ))
    }

    /// A keepalive MESSAGE, GB2312-declared as devices send it.
    pub fn keepalive(self, cseq: u32) -> Self {
        let device = self.device_id.clone();
        self.manscdp(
            cseq,
            &format!(
                "<?xml version=\"1.0\" encoding=\"GB2312\"?>\n<Notify>\n<CmdType>Keepalive</CmdType>\n\
                 <SN>{cseq}</SN>\n<DeviceID>{device}</DeviceID>\n<Status>OK</Status>\n</Notify>"
            ),
        )
    }

    fn xml(&self) -> String {
        format!(
            "<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"{}\">\n{}\n</scenario>\n",
            self.name,
            self.steps.join("\n")
        )
    }

    /// Runs SIPp once against `target`; panics with its errors unless every
    /// step passed.
    pub async fn run(&self, target: SocketAddr) {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| -> PathBuf { dir.path().join(name) };
        std::fs::write(path("scenario.xml"), self.xml()).unwrap();
        let mut command = tokio::process::Command::new("sipp");
        command
            .arg(target.to_string())
            .args(["-sf", path("scenario.xml").to_str().unwrap()])
            .args(["-m", "1", "-l", "1", "-i", "127.0.0.1"])
            .args(["-p", &self.local_port.to_string()])
            .args(["-t", if self.tcp { "t1" } else { "u1" }])
            .args(["-timeout", "30s", "-timeout_error", "-nostdin"])
            .args([
                "-trace_err",
                "-error_file",
                path("errors.log").to_str().unwrap(),
            ])
            .args([
                "-trace_msg",
                "-message_file",
                path("messages.log").to_str().unwrap(),
            ])
            .args(&self.extra_args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(csv) = &self.csv {
            let mut file = b"SEQUENTIAL\n".to_vec();
            file.extend_from_slice(csv);
            std::fs::write(path("fields.csv"), file).unwrap();
            command.args(["-inf", path("fields.csv").to_str().unwrap()]);
        }
        let output = tokio::time::timeout(Duration::from_secs(60), command.output())
            .await
            .expect("sipp did not end within 60 s")
            .expect("sipp runs (Debian package sip-tester, scripts/install-deps.sh)");
        if !output.status.success() {
            let read = |name: &str| std::fs::read_to_string(path(name)).unwrap_or_default();
            panic!(
                "sipp scenario {} failed ({}):\nstderr: {}\nerrors: {}\nmessages: {}",
                self.name,
                output.status,
                String::from_utf8_lossy(&output.stderr),
                read("errors.log"),
                read("messages.log"),
            );
        }
    }
}
