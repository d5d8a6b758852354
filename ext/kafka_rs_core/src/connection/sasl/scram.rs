//! SASL SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), the client side.
//!
//! ```text
//!  client-first   n,,n=<escaped user>,r=<client nonce>
//!  server-first   r=<client nonce><server nonce>,s=<base64 salt>,i=<iterations>
//!  client-final   c=biws,r=<nonce>,p=<base64 ClientKey XOR HMAC(StoredKey, AuthMessage)>
//!  server-final   v=<base64 HMAC(ServerKey, AuthMessage)>      or   e=<error>
//! ```
//!
//! The password never crosses the wire: the client proves it knows it, and the server proves in
//! turn that it knows the stored key derived from it (its signature is verified in constant time;
//! a server that cannot produce it is refused even though the broker accepted the client). The
//! server-first message is checked before any key is derived: the nonce must extend ours, the
//! salt must decode, and the iteration count must be within what Kafka accepts for a SCRAM
//! credential (4096 to 16384), so a hostile server cannot make the client spin for minutes.
//!
//! Like Kafka's own client, the password is used as its UTF-8 bytes (no SASLprep): Kafka stores
//! SCRAM credentials that way. No channel binding (`n,,`) and no authorization id.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::{Exchange, Secret, Step};
use crate::error::{Error, Result};

/// The GS2 header of a client without channel binding or authorization id.
const GS2_HEADER: &str = "n,,";
/// Iteration counts outside this range are refused (Kafka's bounds for SCRAM credentials).
pub const MIN_ITERATIONS: u32 = 4096;
pub const MAX_ITERATIONS: u32 = 16384;
/// Random bytes in a client nonce (base64-encoded on the wire: 32 characters).
const NONCE_BYTES: usize = 24;

/// Which hash the mechanism uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    /// The mechanism of a SASL name (`"SCRAM-SHA-256"`, `"SCRAM-SHA-512"`): [`name`]'s inverse.
    ///
    /// [`name`]: Self::name
    pub fn from_name(name: &str) -> Option<Self> {
        [ScramMechanism::Sha256, ScramMechanism::Sha512]
            .into_iter()
            .find(|m| m.name() == name)
    }

    /// The SASL name sent in SaslHandshake.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        fn run<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
            // HMAC takes keys of any length.
            let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts any key");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            ScramMechanism::Sha256 => run::<Hmac<Sha256>>(key, data),
            ScramMechanism::Sha512 => run::<Hmac<Sha512>>(key, data),
        }
    }

    /// Checks `HMAC(key, data) == expected` in constant time.
    fn verify_hmac(self, key: &[u8], data: &[u8], expected: &[u8]) -> bool {
        fn run<M: Mac + KeyInit>(key: &[u8], data: &[u8], expected: &[u8]) -> bool {
            let mut mac = <M as KeyInit>::new_from_slice(key).expect("HMAC accepts any key");
            mac.update(data);
            mac.verify_slice(expected).is_ok()
        }
        match self {
            ScramMechanism::Sha256 => run::<Hmac<Sha256>>(key, data, expected),
            ScramMechanism::Sha512 => run::<Hmac<Sha512>>(key, data, expected),
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with HMAC of the mechanism's hash, one block.
    fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                let mut out = vec![0; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out
            }
            ScramMechanism::Sha512 => {
                let mut out = vec![0; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out
            }
        }
    }
}

/// SCRAM credentials. `Debug` shows the mechanism and username, never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    pub mechanism: ScramMechanism,
    pub username: String,
    pub password: Secret,
}

impl ScramCredentials {
    /// Errors name the Ruby option at fault, never its value.
    pub fn new(
        mechanism: ScramMechanism,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self> {
        let (username, password) = (username.into(), password.into());
        if username.is_empty() {
            return Err(Error::invalid("sasl_scram_username", "must not be empty"));
        }
        if password.is_empty() {
            return Err(Error::invalid("sasl_scram_password", "must not be empty"));
        }
        Ok(ScramCredentials {
            mechanism,
            username,
            password: Secret::new(password),
        })
    }
}

/// A username as a SCRAM `saslname`: `=` becomes `=3D` and `,` becomes `=2C`.
pub fn escape_username(username: &str) -> String {
    username.replace('=', "=3D").replace(',', "=2C")
}

/// A fresh client nonce: random bytes from the operating system, base64-encoded (printable,
/// never a comma).
fn random_nonce() -> Result<String, String> {
    let mut bytes = [0u8; NONCE_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| format!("no random bytes for the SCRAM nonce from the system: {e}"))?;
    Ok(BASE64.encode(bytes))
}

enum State {
    Start,
    /// client-first sent.
    SentFirst {
        client_first_bare: String,
    },
    /// client-final sent: what the server's signature must be computed over, and its key.
    SentFinal {
        server_key: Vec<u8>,
        auth_message: String,
    },
    Finished,
}

/// The client side of one SCRAM exchange.
pub struct ScramExchange {
    credentials: ScramCredentials,
    /// `None`: drawn at the first message.
    nonce: Option<String>,
    state: State,
}

impl ScramExchange {
    pub fn new(credentials: ScramCredentials) -> Self {
        ScramExchange {
            credentials,
            nonce: None,
            state: State::Start,
        }
    }

    /// An exchange with a chosen client nonce (the RFC's test vectors).
    pub fn with_nonce(credentials: ScramCredentials, nonce: &str) -> Self {
        ScramExchange {
            nonce: Some(nonce.to_string()),
            ..Self::new(credentials)
        }
    }

    fn client_final(
        &mut self,
        client_first_bare: &str,
        server_first: &str,
    ) -> Result<Step, String> {
        let attrs = Attributes::parse(server_first)?;
        if let Some(err) = attrs.get('e') {
            return Err(format!(
                "the broker refused the client-first message: {err}"
            ));
        }
        if let Some(m) = attrs.get('m') {
            return Err(format!(
                "the broker requires an extension this client does not know (m={m})"
            ));
        }
        let client_nonce = self.nonce.as_deref().unwrap_or_default();
        let nonce = attrs.require('r', "nonce")?;
        if !nonce.starts_with(client_nonce) || nonce.len() <= client_nonce.len() {
            return Err(
                "the broker's nonce does not extend the client's (a replayed or tampered \
                        server-first message)"
                    .into(),
            );
        }
        let salt = BASE64
            .decode(attrs.require('s', "salt")?)
            .map_err(|_| "the broker's salt is not base64".to_string())?;
        if salt.is_empty() {
            return Err("the broker's salt is empty".into());
        }
        let iterations: u32 = attrs
            .require('i', "iteration count")?
            .parse()
            .map_err(|_| "the broker's iteration count is not a number".to_string())?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(format!(
                "the broker's iteration count {iterations} is outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"
            ));
        }

        let m = self.credentials.mechanism;
        let salted = m.salted_password(
            self.credentials.password.expose().as_bytes(),
            &salt,
            iterations,
        );
        let client_key = m.hmac(&salted, b"Client Key");
        let stored_key = m.hash(&client_key);
        let without_proof = format!("c={},r={nonce}", BASE64.encode(GS2_HEADER));
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_signature = m.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = m.hmac(&salted, b"Server Key");
        self.state = State::SentFinal {
            server_key,
            auth_message,
        };
        Ok(Step::Respond(
            format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes(),
        ))
    }
}

impl Exchange for ScramExchange {
    fn first(&mut self) -> Result<Vec<u8>, String> {
        let nonce = match &self.nonce {
            Some(n) => n.clone(),
            None => {
                let n = random_nonce()?;
                self.nonce = Some(n.clone());
                n
            }
        };
        let bare = format!(
            "n={},r={nonce}",
            escape_username(&self.credentials.username)
        );
        let first = format!("{GS2_HEADER}{bare}");
        self.state = State::SentFirst {
            client_first_bare: bare,
        };
        Ok(first.into_bytes())
    }

    fn next(&mut self, server: &[u8]) -> Result<Step, String> {
        let server = std::str::from_utf8(server)
            .map_err(|_| "the broker's SCRAM message is not UTF-8".to_string())?;
        match std::mem::replace(&mut self.state, State::Finished) {
            State::SentFirst { client_first_bare } => self.client_final(&client_first_bare, server),
            State::SentFinal {
                server_key,
                auth_message,
            } => {
                let attrs = Attributes::parse(server)?;
                if let Some(err) = attrs.get('e') {
                    return Err(format!("the broker refused the proof: {err}"));
                }
                let signature = BASE64
                    .decode(attrs.require('v', "server signature")?)
                    .map_err(|_| "the broker's signature is not base64".to_string())?;
                let m = self.credentials.mechanism;
                if !m.verify_hmac(&server_key, auth_message.as_bytes(), &signature) {
                    return Err(
                        "the broker's signature does not verify: it does not hold this \
                                user's credentials (or the exchange was tampered with)"
                            .into(),
                    );
                }
                Ok(Step::Done)
            }
            State::Start | State::Finished => {
                Err("a SCRAM message from the broker when none was expected".into())
            }
        }
    }
}

/// The `k=value` attributes of a SCRAM message, in order.
struct Attributes<'a>(Vec<(char, &'a str)>);

impl<'a> Attributes<'a> {
    fn parse(message: &'a str) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in message.split(',') {
            let mut chars = part.chars();
            match (chars.next(), chars.next()) {
                (Some(k), Some('=')) if k.is_ascii_alphabetic() => out.push((k, &part[2..])),
                _ => return Err("the broker's SCRAM message is malformed".into()),
            }
        }
        Ok(Attributes(out))
    }

    fn get(&self, key: char) -> Option<&'a str> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }

    fn require(&self, key: char, what: &str) -> Result<&'a str, String> {
        self.get(key)
            .ok_or_else(|| format!("the broker's SCRAM message has no {what} ({key}=)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(m: ScramMechanism, user: &str, password: &str, nonce: &str) -> ScramExchange {
        ScramExchange::with_nonce(ScramCredentials::new(m, user, password).unwrap(), nonce)
    }

    /// RFC 7677, section 3: the SCRAM-SHA-256 example exchange (user "user", password "pencil").
    #[test]
    fn rfc_7677_sha256_test_vector() {
        let mut ex = exchange(
            ScramMechanism::Sha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO",
        );
        assert_eq!(ex.first().unwrap(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first =
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let Step::Respond(client_final) = ex.next(server_first.as_bytes()).unwrap() else {
            panic!("no client-final");
        };
        assert_eq!(
            String::from_utf8(client_final).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert_eq!(
            ex.next(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
                .unwrap(),
            Step::Done
        );
    }

    #[test]
    fn a_server_signature_that_does_not_verify_is_refused() {
        let mut ex = exchange(
            ScramMechanism::Sha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO",
        );
        ex.first().unwrap();
        let server_first =
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        ex.next(server_first.as_bytes()).unwrap();
        // One bit changed in the RFC's signature.
        let err = ex
            .next(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap_err();
        assert!(err.contains("does not verify"), "{err}");
        // Nothing more is accepted after a failure.
        assert!(ex
            .next(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .is_err());
    }

    #[test]
    fn server_errors_are_reported() {
        let mut ex = exchange(ScramMechanism::Sha256, "user", "pencil", "abc");
        ex.first().unwrap();
        let err = ex.next(b"e=unknown-user").unwrap_err();
        assert!(err.contains("unknown-user"), "{err}");

        let mut ex = exchange(ScramMechanism::Sha256, "user", "pencil", "abc");
        ex.first().unwrap();
        ex.next(b"r=abcdef,s=c2FsdA==,i=4096").unwrap();
        let err = ex.next(b"e=invalid-proof").unwrap_err();
        assert!(
            err.contains("invalid-proof") && !err.contains("pencil"),
            "{err}"
        );
    }

    #[test]
    fn server_first_messages_are_checked() {
        let cases = [
            ("r=xyzdef,s=c2FsdA==,i=4096", "does not extend"),
            ("r=abc,s=c2FsdA==,i=4096", "does not extend"),
            ("r=abcdef,s=***,i=4096", "not base64"),
            ("r=abcdef,s=,i=4096", "salt is empty"),
            ("r=abcdef,s=c2FsdA==,i=1024", "outside 4096..=16384"),
            ("r=abcdef,s=c2FsdA==,i=2147483647", "outside 4096..=16384"),
            ("r=abcdef,s=c2FsdA==,i=many", "not a number"),
            ("r=abcdef,s=c2FsdA==", "no iteration count"),
            ("s=c2FsdA==,i=4096", "no nonce"),
            ("m=ext,r=abcdef,s=c2FsdA==,i=4096", "extension"),
            ("r=abcdef,,i=4096", "malformed"),
            ("garbage", "malformed"),
        ];
        for (server_first, want) in cases {
            let mut ex = exchange(ScramMechanism::Sha512, "user", "pencil", "abc");
            ex.first().unwrap();
            let err = ex.next(server_first.as_bytes()).unwrap_err();
            assert!(err.contains(want), "{server_first}: {err}");
        }
        let mut ex = exchange(ScramMechanism::Sha512, "user", "pencil", "abc");
        ex.first().unwrap();
        assert!(ex.next(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
        let mut fresh = exchange(ScramMechanism::Sha512, "user", "pencil", "abc");
        assert!(fresh.next(b"r=abcdef,s=c2FsdA==,i=4096").is_err());
    }

    #[test]
    fn usernames_are_escaped() {
        assert_eq!(escape_username("a=b,c"), "a=3Db=2Cc");
        assert_eq!(escape_username("=,"), "=3D=2C");
        assert_eq!(escape_username("plain"), "plain");
        let mut ex = exchange(ScramMechanism::Sha256, "o=u,dc=x", "pw", "n0nce");
        assert_eq!(ex.first().unwrap(), b"n,,n=o=3Du=2Cdc=3Dx,r=n0nce");
    }

    #[test]
    fn nonces_are_random_and_printable() {
        let creds = ScramCredentials::new(ScramMechanism::Sha256, "u", "p").unwrap();
        let a = ScramExchange::new(creds.clone()).first().unwrap();
        let b = ScramExchange::new(creds).first().unwrap();
        assert_ne!(a, b);
        let nonce = &a[b"n,,n=u,r=".len()..];
        assert_eq!(nonce.len(), 32);
        assert!(nonce.iter().all(|c| c.is_ascii_graphic() && *c != b','));
    }

    /// The server side of SCRAM, as RFC 5802 describes it, to check the client against: it
    /// stores only StoredKey and ServerKey, checks the proof, and signs.
    struct TestServer {
        m: ScramMechanism,
        salt: Vec<u8>,
        iterations: u32,
        stored_key: Vec<u8>,
        server_key: Vec<u8>,
    }

    impl TestServer {
        fn new(m: ScramMechanism, password: &str) -> Self {
            let salt = b"kafka_rs salt".to_vec();
            let salted = m.salted_password(password.as_bytes(), &salt, 4096);
            TestServer {
                m,
                iterations: 4096,
                stored_key: m.hash(&m.hmac(&salted, b"Client Key")),
                server_key: m.hmac(&salted, b"Server Key"),
                salt,
            }
        }

        /// Runs the exchange; `Err` is the side that refused.
        fn run(&self, client: &mut ScramExchange) -> Result<(), &'static str> {
            let first = String::from_utf8(client.first().unwrap()).unwrap();
            let bare = first.strip_prefix("n,,").unwrap();
            let client_nonce = bare.split(",r=").nth(1).unwrap();
            let server_first = format!(
                "r={client_nonce}srv-n0nce,s={},i={}",
                BASE64.encode(&self.salt),
                self.iterations
            );
            let Step::Respond(fin) = client.next(server_first.as_bytes()).map_err(|_| "client")?
            else {
                return Err("client");
            };
            let fin = String::from_utf8(fin).unwrap();
            let (without_proof, proof) = fin.rsplit_once(",p=").unwrap();
            let auth_message = format!("{bare},{server_first},{without_proof}");
            let signature = self.m.hmac(&self.stored_key, auth_message.as_bytes());
            let client_key: Vec<u8> = BASE64
                .decode(proof)
                .unwrap()
                .iter()
                .zip(&signature)
                .map(|(p, s)| p ^ s)
                .collect();
            if self.m.hash(&client_key) != self.stored_key {
                return Err("server");
            }
            let v = BASE64.encode(self.m.hmac(&self.server_key, auth_message.as_bytes()));
            match client.next(format!("v={v}").as_bytes()) {
                Ok(Step::Done) => Ok(()),
                _ => Err("client"),
            }
        }
    }

    #[test]
    fn both_mechanisms_authenticate_against_an_rfc_server() {
        for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
            let server = TestServer::new(m, "correct horse");
            let creds = ScramCredentials::new(m, "alice,admin", "correct horse").unwrap();
            assert_eq!(server.run(&mut ScramExchange::new(creds)), Ok(()), "{m:?}");

            let wrong = ScramCredentials::new(m, "alice", "battery staple").unwrap();
            assert_eq!(
                server.run(&mut ScramExchange::new(wrong)),
                Err("server"),
                "{m:?}"
            );
        }
    }

    #[test]
    fn a_server_without_the_credentials_is_refused() {
        // The server's keys come from another password: it cannot sign, whatever it answers.
        let mut impostor = TestServer::new(ScramMechanism::Sha512, "other");
        let real = TestServer::new(ScramMechanism::Sha512, "pw");
        impostor.stored_key = real.stored_key.clone();
        let creds = ScramCredentials::new(ScramMechanism::Sha512, "alice", "pw").unwrap();
        assert_eq!(impostor.run(&mut ScramExchange::new(creds)), Err("client"));
    }

    #[test]
    fn mechanism_options_and_credentials() {
        for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
            assert_eq!(ScramMechanism::from_name(m.name()), Some(m));
        }
        assert_eq!(ScramMechanism::from_name("SCRAM-MD5"), None);
        let err = ScramCredentials::new(ScramMechanism::Sha256, "u", "")
            .unwrap_err()
            .to_string();
        assert!(err.contains("sasl_scram_password"), "{err}");
        let c = ScramCredentials::new(ScramMechanism::Sha256, "alice", "hunter2").unwrap();
        let shown = format!("{c:?}");
        assert!(
            shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
