//! TLS decryption from NSS key logs (`SSLKEYLOGFILE`, `--keylog FILE`, pcapng DSB blocks).
//!
//! Owns: the key log table ([`KeyLog`]), per-connection record decryption ([`TlsDecryptor`]) for
//! TLS 1.3 (AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305; handshake and application traffic
//! secrets, KeyUpdate, 0-RTT) and TLS 1.2 (AES-GCM, ChaCha20-Poly1305 and AES-CBC with
//! HMAC-SHA1/256/384 via the PRF and the master secret). It reads just enough of the plaintext
//! handshake (ClientHello, ServerHello) and of the decrypted one (EncryptedExtensions, Finished,
//! KeyUpdate) to pick keys; it is not the TLS handshake parser.
//!
//! All cryptography comes from RustCrypto crates (aes-gcm, chacha20poly1305, aes + cbc, hkdf,
//! hmac, sha1, sha2); nothing here implements a cipher.
//!
//! Must not import: any other protocol module (it parses what it needs itself), flow tables,
//! the clock. Imports only `crate::base`, std and crates.

use std::collections::VecDeque;

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, InnerIvInit};
use chacha20poly1305::ChaCha20Poly1305;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rustc_hash::FxHashMap;
use sha1::Sha1;
use sha2::{Sha256, Sha384};

use crate::base::{Direction, Timestamp, Weird};

/// Largest record body accepted: 2^14 + 2048 (TLS 1.2 `TLSCiphertext` limit). A longer length
/// field means the stream is not TLS or is corrupt: weird `tls-decrypt-record-too-long`.
pub const MAX_RECORD_LEN: usize = (1 << 14) + 2048;
/// Largest handshake message kept for parsing (ClientHello, ServerHello, EncryptedExtensions,
/// ...). Messages we do not read (Certificate, ...) are skipped without buffering; a message we
/// want that is longer is skipped with weird `tls-decrypt-handshake-too-long`.
pub const MAX_HS_MSG: usize = 1 << 16;
/// Records of one direction queued while waiting for the peer's ServerHello (0-RTT data, a
/// client CCS): at most this many records ...
pub const MAX_PENDING_RECORDS: usize = 64;
/// ... and this many bytes. Overflow: weird `tls-decrypt-queue-full`, decryption stops.
pub const MAX_PENDING_BYTES: usize = 256 * 1024;
/// Client records that fail with both the early and the handshake key before the first good
/// handshake record (0-RTT data the server rejected, or no `EARLY_TRAFFIC_SECRET`) that are
/// skipped silently; one more is an authentication failure.
pub const MAX_SKIPPED_EARLY: u32 = 256;
/// Weirds kept per connection; the next one is replaced by a single `tls-decrypt-weird-cap`.
pub const MAX_WEIRDS: usize = 64;
/// Client randoms kept in a [`KeyLog`]; lines for new randoms beyond it are counted in
/// [`KeyLog::dropped_lines`].
pub const MAX_KEYLOG_ENTRIES: usize = 200_000;
/// Longest key log line accepted (the longest valid line is about 230 bytes).
pub const MAX_KEYLOG_LINE: usize = 1024;

const TAG_LEN: usize = 16;
/// `ServerHello.random` of a HelloRetryRequest (RFC 8446 4.1.3): SHA-256("HelloRetryRequest").
const HRR_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

const CT_CCS: u8 = 20;
const CT_ALERT: u8 = 21;
const CT_HANDSHAKE: u8 = 22;
const CT_APP_DATA: u8 = 23;

const HS_CLIENT_HELLO: u8 = 1;
const HS_SERVER_HELLO: u8 = 2;
const HS_END_OF_EARLY_DATA: u8 = 5;
const HS_ENCRYPTED_EXTENSIONS: u8 = 8;
const HS_FINISHED: u8 = 20;
const HS_KEY_UPDATE: u8 = 24;

const EXT_ALPN: u16 = 16;
const EXT_ENCRYPT_THEN_MAC: u16 = 22;
const EXT_EARLY_DATA: u16 = 42;
const EXT_SUPPORTED_VERSIONS: u16 = 43;

const TLS12: u16 = 0x0303;
const TLS13: u16 = 0x0304;

// ---------------------------------------------------------------------------------------------
// Key log
// ---------------------------------------------------------------------------------------------

/// The secrets logged for one client random.
#[derive(Clone, Debug, Default)]
struct Secrets {
    /// TLS 1.2 master secret (`CLIENT_RANDOM`, 48 bytes).
    master: Option<Vec<u8>>,
    client_hs: Option<Vec<u8>>,
    server_hs: Option<Vec<u8>>,
    client_app: Option<Vec<u8>>,
    server_app: Option<Vec<u8>>,
    client_early: Option<Vec<u8>>,
}

/// Parsed key log: secrets indexed by client random (32 bytes).
///
/// Fed from `--keylog FILE` and from every pcapng Decryption Secrets Block; later lines for the
/// same client random and label replace earlier ones.
#[derive(Debug, Default)]
pub struct KeyLog {
    map: FxHashMap<[u8; 32], Secrets>,
    bad_lines: usize,
    ignored_lines: usize,
    dropped_lines: usize,
}

enum LineResult {
    Accepted,
    Ignored,
    Bad,
    Dropped,
}

impl KeyLog {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds lines of an NSS key log (file contents or a DSB payload). Blank lines and `#`
    /// comments are skipped; malformed lines are counted ([`KeyLog::bad_lines`]), not fatal;
    /// well-formed lines with labels this module does not use (`EXPORTER_SECRET`, `RSA`, ...)
    /// are counted in [`KeyLog::ignored_lines`]. Returns the number of lines stored.
    pub fn add_text(&mut self, text: &[u8]) -> usize {
        let mut accepted = 0;
        for line in text.split(|&b| b == b'\n' || b == b'\r') {
            let line = line.trim_ascii_start();
            let line = trim_end(line);
            if line.is_empty() || line.first() == Some(&b'#') {
                continue;
            }
            match self.add_line(line) {
                LineResult::Accepted => accepted += 1,
                LineResult::Ignored => self.ignored_lines = self.ignored_lines.saturating_add(1),
                LineResult::Bad => self.bad_lines = self.bad_lines.saturating_add(1),
                LineResult::Dropped => self.dropped_lines = self.dropped_lines.saturating_add(1),
            }
        }
        accepted
    }

    fn add_line(&mut self, line: &[u8]) -> LineResult {
        if line.len() > MAX_KEYLOG_LINE {
            return LineResult::Bad;
        }
        let mut fields = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|f| !f.is_empty());
        let (Some(label), Some(random), Some(secret), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return LineResult::Bad;
        };
        type Slot = fn(&mut Secrets) -> &mut Option<Vec<u8>>;
        let (slot, lens): (Slot, &[usize]) = match label {
            b"CLIENT_RANDOM" => (|s| &mut s.master, &[48]),
            b"CLIENT_HANDSHAKE_TRAFFIC_SECRET" => (|s| &mut s.client_hs, &[32, 48]),
            b"SERVER_HANDSHAKE_TRAFFIC_SECRET" => (|s| &mut s.server_hs, &[32, 48]),
            b"CLIENT_TRAFFIC_SECRET_0" => (|s| &mut s.client_app, &[32, 48]),
            b"SERVER_TRAFFIC_SECRET_0" => (|s| &mut s.server_app, &[32, 48]),
            b"CLIENT_EARLY_TRAFFIC_SECRET" | b"EARLY_TRAFFIC_SECRET" => {
                (|s| &mut s.client_early, &[32, 48])
            }
            b"EXPORTER_SECRET"
            | b"EARLY_EXPORTER_SECRET"
            | b"RSA"
            | b"PMS_CLIENT_RANDOM"
            | b"ECH_SECRET"
            | b"ECH_CONFIG" => return LineResult::Ignored,
            _ => return LineResult::Bad,
        };
        let (Some(random), Some(secret)) = (hex_decode(random), hex_decode(secret)) else {
            return LineResult::Bad;
        };
        let Ok(random) = <[u8; 32]>::try_from(random.as_slice()) else {
            return LineResult::Bad;
        };
        if !lens.contains(&secret.len()) {
            return LineResult::Bad;
        }
        if self.map.len() >= MAX_KEYLOG_ENTRIES && !self.map.contains_key(&random) {
            return LineResult::Dropped;
        }
        *slot(self.map.entry(random).or_default()) = Some(secret);
        LineResult::Accepted
    }

    /// Number of client randoms with at least one secret.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Malformed lines seen so far (wrong field count, bad hex, wrong lengths, unknown label).
    pub fn bad_lines(&self) -> usize {
        self.bad_lines
    }

    /// Well-formed lines with a label that decryption does not need.
    pub fn ignored_lines(&self) -> usize {
        self.ignored_lines
    }

    /// Lines dropped because the table held [`MAX_KEYLOG_ENTRIES`] client randoms.
    pub fn dropped_lines(&self) -> usize {
        self.dropped_lines
    }

    fn get(&self, client_random: &[u8; 32]) -> Option<&Secrets> {
        self.map.get(client_random)
    }
}

fn trim_end(s: &[u8]) -> &[u8] {
    let mut s = s;
    while let Some((&last, rest)) = s.split_last() {
        if last.is_ascii_whitespace() || last == 0 {
            s = rest;
        } else {
            break;
        }
    }
    s
}

fn hex_decode(s: &[u8]) -> Option<Vec<u8>> {
    fn nib(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks_exact(2)
        .map(|p| match p {
            [h, l] => Some((nib(*h)? << 4) | nib(*l)?),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Cipher suites and key derivation
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HashAlg {
    Sha256,
    Sha384,
}

impl HashAlg {
    fn len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha384 => 48,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bulk {
    Aes128Gcm,
    Aes256Gcm,
    ChaCha20,
    Aes128Cbc,
    Aes256Cbc,
}

impl Bulk {
    fn key_len(self) -> usize {
        match self {
            Bulk::Aes128Gcm | Bulk::Aes128Cbc => 16,
            Bulk::Aes256Gcm | Bulk::ChaCha20 | Bulk::Aes256Cbc => 32,
        }
    }

    /// TLS 1.2 key-block IV length (`fixed_iv_length`, or the block size for CBC).
    fn iv12_len(self) -> usize {
        match self {
            Bulk::Aes128Gcm | Bulk::Aes256Gcm => 4,
            Bulk::ChaCha20 => 12,
            Bulk::Aes128Cbc | Bulk::Aes256Cbc => 16,
        }
    }
}

/// HMAC of the CBC suites (none for AEAD suites).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MacAlg {
    None,
    Sha1,
    Sha256,
    Sha384,
}

impl MacAlg {
    fn len(self) -> usize {
        match self {
            MacAlg::None => 0,
            MacAlg::Sha1 => 20,
            MacAlg::Sha256 => 32,
            MacAlg::Sha384 => 48,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Suite {
    bulk: Bulk,
    mac: MacAlg,
    /// TLS 1.3: HKDF hash; TLS 1.2: PRF hash.
    hash: HashAlg,
}

const fn suite(bulk: Bulk, mac: MacAlg, hash: HashAlg) -> Option<Suite> {
    Some(Suite { bulk, mac, hash })
}

fn suite13(id: u16) -> Option<Suite> {
    use {Bulk::*, HashAlg::*};
    match id {
        0x1301 => suite(Aes128Gcm, MacAlg::None, Sha256),
        0x1302 => suite(Aes256Gcm, MacAlg::None, Sha384),
        0x1303 => suite(ChaCha20, MacAlg::None, Sha256),
        _ => None,
    }
}

fn suite12(id: u16) -> Option<Suite> {
    use {Bulk::*, HashAlg::*};
    match id {
        0x009c | 0x009e | 0x00a0 | 0x00a2 | 0x00a4 | 0x00a6 | 0x00a8 | 0x00aa | 0x00ac | 0xc02b
        | 0xc02d | 0xc02f | 0xc031 => suite(Aes128Gcm, MacAlg::None, Sha256),
        0x009d | 0x009f | 0x00a1 | 0x00a3 | 0x00a5 | 0x00a7 | 0x00a9 | 0x00ab | 0x00ad | 0xc02c
        | 0xc02e | 0xc030 | 0xc032 => suite(Aes256Gcm, MacAlg::None, Sha384),
        0xcca8..=0xccae => suite(ChaCha20, MacAlg::None, Sha256),
        0x002f..=0x0034
        | 0x008c
        | 0x0090
        | 0x0094
        | 0xc004
        | 0xc009
        | 0xc00e
        | 0xc013
        | 0xc018
        | 0xc035 => suite(Aes128Cbc, MacAlg::Sha1, Sha256),
        0x0035..=0x003a
        | 0x008d
        | 0x0091
        | 0x0095
        | 0xc005
        | 0xc00a
        | 0xc00f
        | 0xc014
        | 0xc019
        | 0xc036 => suite(Aes256Cbc, MacAlg::Sha1, Sha256),
        0x003c | 0x003e | 0x003f | 0x0040 | 0x0067 | 0x006c | 0x00ae | 0x00b2 | 0x00b6 | 0xc023
        | 0xc025 | 0xc027 | 0xc029 | 0xc037 => suite(Aes128Cbc, MacAlg::Sha256, Sha256),
        0x003d | 0x0068..=0x006b | 0x006d => suite(Aes256Cbc, MacAlg::Sha256, Sha256),
        0x00af | 0x00b3 | 0x00b7 | 0xc024 | 0xc026 | 0xc028 | 0xc02a | 0xc038 => {
            suite(Aes256Cbc, MacAlg::Sha384, Sha384)
        }
        _ => None,
    }
}

/// HKDF-Expand-Label (RFC 8446 7.1) with an empty context.
fn expand_label(hash: HashAlg, secret: &[u8], label: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut info = Vec::with_capacity(10 + label.len());
    info.extend_from_slice(&u16::try_from(len).ok()?.to_be_bytes());
    info.push(u8::try_from(6 + label.len()).ok()?);
    info.extend_from_slice(b"tls13 ");
    info.extend_from_slice(label);
    info.push(0);
    let mut out = vec![0u8; len];
    match hash {
        HashAlg::Sha256 => Hkdf::<Sha256>::from_prk(secret)
            .ok()?
            .expand(&info, &mut out)
            .ok()?,
        HashAlg::Sha384 => Hkdf::<Sha384>::from_prk(secret)
            .ok()?
            .expand(&info, &mut out)
            .ok()?,
    }
    Some(out)
}

/// TLS 1.2 PRF (RFC 5246 5): P_hash(secret, label + seed).
fn prf(hash: HashAlg, secret: &[u8], label: &[u8], seed: &[u8], len: usize) -> Option<Vec<u8>> {
    match hash {
        HashAlg::Sha256 => p_hash::<Hmac<Sha256>>(secret, label, seed, len),
        HashAlg::Sha384 => p_hash::<Hmac<Sha384>>(secret, label, seed, len),
    }
}

fn p_hash<M: Mac + KeyInit + Clone>(
    secret: &[u8],
    label: &[u8],
    seed: &[u8],
    len: usize,
) -> Option<Vec<u8>> {
    let base = <M as Mac>::new_from_slice(secret).ok()?;
    let mut full = label.to_vec();
    full.extend_from_slice(seed);
    let mut a = base
        .clone()
        .chain_update(&full)
        .finalize()
        .into_bytes()
        .to_vec();
    let mut out = Vec::with_capacity(len.saturating_add(64));
    while out.len() < len {
        let block = base.clone().chain_update(&a).chain_update(&full).finalize();
        out.extend_from_slice(&block.into_bytes());
        a = base
            .clone()
            .chain_update(&a)
            .finalize()
            .into_bytes()
            .to_vec();
    }
    out.truncate(len);
    Some(out)
}

fn hmac_parts(alg: MacAlg, key: &[u8], parts: &[&[u8]]) -> Option<Vec<u8>> {
    fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Option<Vec<u8>> {
        let mut m = <M as Mac>::new_from_slice(key).ok()?;
        for p in parts {
            m.update(p);
        }
        Some(m.finalize().into_bytes().to_vec())
    }
    match alg {
        MacAlg::None => None,
        MacAlg::Sha1 => run::<Hmac<Sha1>>(key, parts),
        MacAlg::Sha256 => run::<Hmac<Sha256>>(key, parts),
        MacAlg::Sha384 => run::<Hmac<Sha384>>(key, parts),
    }
}

/// An AEAD with its key schedule (boxed: the AES key schedules are large).
enum Aead {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
    ChaCha(Box<ChaCha20Poly1305>),
}

impl Aead {
    fn new(bulk: Bulk, key: &[u8]) -> Option<Aead> {
        Some(match bulk {
            Bulk::Aes128Gcm => Aead::Aes128(Box::new(Aes128Gcm::new_from_slice(key).ok()?)),
            Bulk::Aes256Gcm => Aead::Aes256(Box::new(Aes256Gcm::new_from_slice(key).ok()?)),
            Bulk::ChaCha20 => Aead::ChaCha(Box::new(ChaCha20Poly1305::new_from_slice(key).ok()?)),
            Bulk::Aes128Cbc | Bulk::Aes256Cbc => return None,
        })
    }

    /// Decrypts `buf` in place; false if the tag does not verify (then `buf` is unchanged).
    fn open(&self, nonce: [u8; 12], aad: &[u8], buf: &mut [u8], tag: &[u8]) -> bool {
        let Ok(tag) = <[u8; TAG_LEN]>::try_from(tag) else {
            return false;
        };
        let nonce = GenericArray::from(nonce);
        let tag = GenericArray::from(tag);
        match self {
            Aead::Aes128(c) => c.decrypt_in_place_detached(&nonce, aad, buf, &tag).is_ok(),
            Aead::Aes256(c) => c.decrypt_in_place_detached(&nonce, aad, buf, &tag).is_ok(),
            Aead::ChaCha(c) => c.decrypt_in_place_detached(&nonce, aad, buf, &tag).is_ok(),
        }
    }
}

enum CbcKey {
    Aes128(Box<aes::Aes128>),
    Aes256(Box<aes::Aes256>),
}

impl CbcKey {
    fn new(bulk: Bulk, key: &[u8]) -> Option<CbcKey> {
        match bulk {
            Bulk::Aes128Cbc => Some(CbcKey::Aes128(Box::new(
                aes::Aes128::new_from_slice(key).ok()?,
            ))),
            Bulk::Aes256Cbc => Some(CbcKey::Aes256(Box::new(
                aes::Aes256::new_from_slice(key).ok()?,
            ))),
            _ => None,
        }
    }

    /// CBC-decrypts `buf` (a whole number of blocks) in place.
    fn decrypt(&self, iv: &[u8], buf: &mut [u8]) -> bool {
        match self {
            CbcKey::Aes128(k) => {
                cbc::Decryptor::<aes::Aes128>::inner_iv_slice_init((**k).clone(), iv)
                    .ok()
                    .and_then(|d| d.decrypt_padded_mut::<NoPadding>(buf).ok())
                    .is_some()
            }
            CbcKey::Aes256(k) => {
                cbc::Decryptor::<aes::Aes256>::inner_iv_slice_init((**k).clone(), iv)
                    .ok()
                    .and_then(|d| d.decrypt_padded_mut::<NoPadding>(buf).ok())
                    .is_some()
            }
        }
    }
}

/// Record protection of one direction.
enum RecordCipher {
    /// TLS 1.3: nonce = iv XOR seq, AAD = record header, inner content type at the end.
    Tls13 { aead: Aead, iv: [u8; 12] },
    /// TLS 1.2 AES-GCM: nonce = 4-byte salt + 8-byte explicit nonce from the record.
    Gcm12 { aead: Aead, salt: [u8; 4] },
    /// TLS 1.2 ChaCha20-Poly1305 (RFC 7905): nonce = iv XOR seq.
    ChaCha12 { aead: Aead, iv: [u8; 12] },
    /// TLS 1.2 AES-CBC + HMAC, explicit per-record IV; MAC-then-encrypt unless RFC 7366.
    Cbc12 {
        key: CbcKey,
        mac: MacAlg,
        mac_key: Vec<u8>,
        etm: bool,
    },
}

fn nonce_xor(iv: [u8; 12], seq: u64) -> [u8; 12] {
    let mut n = iv;
    for (b, s) in n.iter_mut().skip(4).zip(seq.to_be_bytes()) {
        *b ^= s;
    }
    n
}

/// TLS 1.2 additional data / MAC header: seq, type, version, length.
fn aad12(seq: u64, hdr: &[u8], len: usize) -> Option<[u8; 13]> {
    let mut a = [0u8; 13];
    let (s, rest) = a.split_at_mut(8);
    s.copy_from_slice(&seq.to_be_bytes());
    let (t, l) = rest.split_at_mut(3);
    t.copy_from_slice(hdr.get(..3)?);
    l.copy_from_slice(&u16::try_from(len).ok()?.to_be_bytes());
    Some(a)
}

impl RecordCipher {
    fn tls13(suite: Suite, secret: &[u8]) -> Option<RecordCipher> {
        if secret.len() != suite.hash.len() {
            return None;
        }
        let key = expand_label(suite.hash, secret, b"key", suite.bulk.key_len())?;
        let iv = expand_label(suite.hash, secret, b"iv", 12)?;
        Some(RecordCipher::Tls13 {
            aead: Aead::new(suite.bulk, &key)?,
            iv: iv.try_into().ok()?,
        })
    }

    /// The client and server ciphers of a TLS 1.2 connection.
    fn tls12(
        suite: Suite,
        master: &[u8],
        client_random: &[u8; 32],
        server_random: &[u8; 32],
        etm: bool,
    ) -> Option<[RecordCipher; 2]> {
        let (mac_len, key_len, iv_len) =
            (suite.mac.len(), suite.bulk.key_len(), suite.bulk.iv12_len());
        let mut seed = server_random.to_vec();
        seed.extend_from_slice(client_random);
        let total = 2 * (mac_len + key_len + iv_len);
        let kb = prf(suite.hash, master, b"key expansion", &seed, total)?;
        let mut rd = Rd(&kb);
        let (cmac, smac) = (rd.take(mac_len)?, rd.take(mac_len)?);
        let (ckey, skey) = (rd.take(key_len)?, rd.take(key_len)?);
        let (civ, siv) = (rd.take(iv_len)?, rd.take(iv_len)?);
        let make = |mac_key: &[u8], key: &[u8], iv: &[u8]| -> Option<RecordCipher> {
            Some(match suite.bulk {
                Bulk::Aes128Gcm | Bulk::Aes256Gcm => RecordCipher::Gcm12 {
                    aead: Aead::new(suite.bulk, key)?,
                    salt: iv.try_into().ok()?,
                },
                Bulk::ChaCha20 => RecordCipher::ChaCha12 {
                    aead: Aead::new(suite.bulk, key)?,
                    iv: iv.try_into().ok()?,
                },
                Bulk::Aes128Cbc | Bulk::Aes256Cbc => RecordCipher::Cbc12 {
                    key: CbcKey::new(suite.bulk, key)?,
                    mac: suite.mac,
                    mac_key: mac_key.to_vec(),
                    etm,
                },
            })
        };
        Some([make(cmac, ckey, civ)?, make(smac, skey, siv)?])
    }

    /// Decrypts and authenticates one whole record (`rec` = 5-byte header + body) in place.
    /// Returns the content type (TLS 1.3: the inner one) and where the plaintext lies in `rec`.
    fn open(&self, seq: u64, rec: &mut [u8]) -> Option<(u8, std::ops::Range<usize>)> {
        let (hdr, body) = rec.split_at_mut_checked(5)?;
        let outer = *hdr.first()?;
        match self {
            RecordCipher::Tls13 { aead, iv } => {
                let ct_len = body.len().checked_sub(TAG_LEN).filter(|&l| l > 0)?;
                let (ct, tag) = body.split_at_mut(ct_len);
                if !aead.open(nonce_xor(*iv, seq), hdr, ct, tag) {
                    return None;
                }
                // Strip zero padding; the last non-zero byte is the real content type.
                let end = ct.iter().rposition(|&b| b != 0)?;
                Some((*ct.get(end)?, 5..5 + end))
            }
            RecordCipher::Gcm12 { aead, salt } => {
                let ct_len = body.len().checked_sub(8 + TAG_LEN)?;
                let (explicit, rest) = body.split_at_mut(8);
                let (ct, tag) = rest.split_at_mut(ct_len);
                let mut nonce = [0u8; 12];
                nonce[..4].copy_from_slice(salt);
                nonce[4..].copy_from_slice(explicit);
                let aad = aad12(seq, hdr, ct_len)?;
                aead.open(nonce, &aad, ct, tag)
                    .then_some((outer, 13..13 + ct_len))
            }
            RecordCipher::ChaCha12 { aead, iv } => {
                let ct_len = body.len().checked_sub(TAG_LEN)?;
                let (ct, tag) = body.split_at_mut(ct_len);
                let aad = aad12(seq, hdr, ct_len)?;
                aead.open(nonce_xor(*iv, seq), &aad, ct, tag)
                    .then_some((outer, 5..5 + ct_len))
            }
            RecordCipher::Cbc12 {
                key,
                mac,
                mac_key,
                etm,
            } => {
                let mac_len = mac.len();
                if *etm {
                    // RFC 7366: MAC over header + IV + ciphertext, then decrypt.
                    let enc_len = body.len().checked_sub(mac_len)?;
                    let (enc, tag) = body.split_at_mut(enc_len);
                    let aad = aad12(seq, hdr, enc_len)?;
                    if hmac_parts(*mac, mac_key, &[&aad, enc])?.as_slice() != &*tag {
                        return None;
                    }
                    let (iv, ct) = enc.split_at_mut_checked(16)?;
                    if ct.is_empty() || ct.len() % 16 != 0 || !key.decrypt(iv, ct) {
                        return None;
                    }
                    let pad = usize::from(*ct.last()?);
                    let content_len = ct.len().checked_sub(pad + 1)?;
                    let padding = ct.get(content_len..)?;
                    padding
                        .iter()
                        .all(|&b| usize::from(b) == pad)
                        .then_some(())?;
                    return Some((outer, 21..21 + content_len));
                }
                let (iv, ct) = body.split_at_mut_checked(16)?;
                if ct.is_empty() || ct.len() % 16 != 0 || !key.decrypt(iv, ct) {
                    return None;
                }
                let pad = usize::from(*ct.last()?);
                let content_len = ct.len().checked_sub(pad + 1 + mac_len)?;
                let (content, rest) = ct.split_at(content_len);
                let (tag, padding) = rest.split_at_checked(mac_len)?;
                padding
                    .iter()
                    .all(|&b| usize::from(b) == pad)
                    .then_some(())?;
                let aad = aad12(seq, hdr, content_len)?;
                (hmac_parts(*mac, mac_key, &[&aad, content])?.as_slice() == tag)
                    .then_some((outer, 21..21 + content_len))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Minimal handshake parsing
// ---------------------------------------------------------------------------------------------

/// Bounds-checked big-endian reader.
struct Rd<'a>(&'a [u8]);

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (a, b) = self.0.split_at_checked(n)?;
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u8()?);
        self.take(n)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = usize::from(self.u16()?);
        self.take(n)
    }
}

/// Calls `f(type, data)` for each extension of an extensions block (vector with u16 length).
fn for_each_ext(block: &[u8], mut f: impl FnMut(u16, &[u8])) -> Option<()> {
    let mut rd = Rd(Rd(block).vec16()?);
    while !rd.0.is_empty() {
        let typ = rd.u16()?;
        let data = rd.vec16()?;
        f(typ, data);
    }
    Some(())
}

/// First protocol name of an ALPN extension body.
fn parse_alpn(data: &[u8]) -> Option<String> {
    let name = Rd(Rd(data).vec16()?).vec8()?;
    Some(String::from_utf8_lossy(name).into_owned())
}

struct ClientHello {
    random: [u8; 32],
    early_data: bool,
}

fn parse_client_hello(body: &[u8]) -> Option<ClientHello> {
    let mut rd = Rd(body);
    rd.u16()?;
    let random = rd.take(32)?.try_into().ok()?;
    rd.vec8()?;
    rd.vec16()?;
    rd.vec8()?;
    let mut early_data = false;
    if !rd.0.is_empty() {
        for_each_ext(rd.0, |t, _| early_data |= t == EXT_EARLY_DATA)?;
    }
    Some(ClientHello { random, early_data })
}

struct ServerHello {
    random: [u8; 32],
    cipher: u16,
    version: u16,
    alpn: Option<String>,
    etm: bool,
    /// Compression method (0 = none, 1 = DEFLATE).
    compression: u8,
}

fn parse_server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut rd = Rd(body);
    let mut version = rd.u16()?;
    let random = rd.take(32)?.try_into().ok()?;
    rd.vec8()?;
    let cipher = rd.u16()?;
    let compression = rd.u8()?;
    let (mut alpn, mut etm) = (None, false);
    if !rd.0.is_empty() {
        for_each_ext(rd.0, |t, d| match t {
            EXT_SUPPORTED_VERSIONS => version = Rd(d).u16().unwrap_or(version),
            EXT_ALPN => alpn = parse_alpn(d),
            EXT_ENCRYPT_THEN_MAC => etm = true,
            _ => {}
        })?;
    }
    Some(ServerHello {
        random,
        cipher,
        version,
        alpn,
        etm,
        compression,
    })
}

/// Reassembles handshake messages across records; keeps only the bodies of the types we read.
#[derive(Default)]
struct HsReader {
    hdr: [u8; 4],
    hdr_len: usize,
    need: usize,
    keep: bool,
    body: Vec<u8>,
}

impl HsReader {
    fn wanted(typ: u8) -> bool {
        matches!(
            typ,
            HS_CLIENT_HELLO
                | HS_SERVER_HELLO
                | HS_END_OF_EARLY_DATA
                | HS_ENCRYPTED_EXTENSIONS
                | HS_FINISHED
                | HS_KEY_UPDATE
        )
    }

    /// Feeds handshake bytes; pushes each complete wanted message as (type, body).
    /// Returns the number of wanted messages skipped for being longer than [`MAX_HS_MSG`].
    fn feed(&mut self, mut data: &[u8], msgs: &mut Vec<(u8, Vec<u8>)>) -> usize {
        let mut too_long = 0;
        while !data.is_empty() {
            if self.hdr_len < 4 {
                let take = (4 - self.hdr_len).min(data.len());
                let (a, b) = data.split_at(take);
                if let Some(dst) = self.hdr.get_mut(self.hdr_len..self.hdr_len + take) {
                    dst.copy_from_slice(a);
                }
                data = b;
                self.hdr_len += take;
                if self.hdr_len < 4 {
                    break;
                }
                let [typ, l0, l1, l2] = self.hdr;
                self.need = (usize::from(l0) << 16) | (usize::from(l1) << 8) | usize::from(l2);
                self.keep = Self::wanted(typ) && self.need <= MAX_HS_MSG;
                if Self::wanted(typ) && !self.keep {
                    too_long += 1;
                }
                self.body.clear();
            }
            let take = self.need.min(data.len());
            let (a, b) = data.split_at(take);
            if self.keep {
                self.body.extend_from_slice(a);
            }
            data = b;
            self.need -= take;
            if self.need == 0 {
                if self.keep {
                    msgs.push((self.hdr[0], std::mem::take(&mut self.body)));
                }
                self.hdr_len = 0;
            }
        }
        too_long
    }
}

// ---------------------------------------------------------------------------------------------
// The decryptor
// ---------------------------------------------------------------------------------------------

/// Decrypted application data (content type 23, TLS 1.3 inner type and padding removed), with
/// the capture time at which the record completed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plaintext {
    pub dir: Direction,
    pub ts: Timestamp,
    pub data: Vec<u8>,
}

/// Where decryption of a connection stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecryptState {
    /// No keys (yet): before the ServerHello, or the key log has nothing for this client random.
    NoKeys,
    /// Keys derived; records are being decrypted.
    Decrypting,
    /// Decryption stopped (auth failure, malformed record stream, ...): use the encrypted view.
    /// The reason is a short kebab-case code.
    Failed(&'static str),
    /// Negotiated cipher suite (or version) this module cannot decrypt; holds the suite id.
    Unsupported(u16),
}

/// What changes the keys of one direction after the current record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Switch {
    Handshake,
    App,
    Update,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not encrypting yet.
    Plain,
    /// TLS 1.3 client after offering 0-RTT: early key or handshake key, to be found out.
    EarlyTrial,
    /// TLS 1.3 client sending 0-RTT data under the early traffic secret.
    Early,
    Handshake,
    App,
    /// TLS 1.2 after ChangeCipherSpec.
    Tls12,
}

/// One direction of the connection.
struct Side {
    /// The record being assembled (header + body, at most 5 + [`MAX_RECORD_LEN`] bytes).
    rec: Vec<u8>,
    hs: HsReader,
    phase: Phase,
    cipher: Option<RecordCipher>,
    seq: u64,
    /// Current TLS 1.3 traffic secret (for KeyUpdate).
    secret: Vec<u8>,
    next: Option<Switch>,
    /// Client: failures are rejected 0-RTT records until the first good handshake record.
    tolerate_failures: bool,
    skipped_early: u32,
    /// TLS 1.2 DEFLATE compression (RFC 3749): one zlib stream per direction.
    inflate: Option<flate2::Decompress>,
    pending: VecDeque<(Timestamp, Vec<u8>)>,
    pending_bytes: usize,
    stopped: bool,
    last_ts: Timestamp,
}

impl Side {
    fn new() -> Side {
        Side {
            rec: Vec::new(),
            hs: HsReader::default(),
            phase: Phase::Plain,
            cipher: None,
            seq: 0,
            secret: Vec::new(),
            next: None,
            tolerate_failures: false,
            skipped_early: 0,
            inflate: None,
            pending: VecDeque::new(),
            pending_bytes: 0,
            stopped: false,
            last_ts: Timestamp::default(),
        }
    }
}

/// Decrypts one TLS connection from the reassembled byte stream of each direction.
///
/// Streaming: [`TlsDecryptor::data`] takes any split of the stream; at most one partial record
/// per direction is buffered. Keys are looked up in the [`KeyLog`] when the ServerHello is seen.
pub struct TlsDecryptor {
    sides: [Side; 2],
    client_random: Option<[u8; 32]>,
    early_offered: bool,
    hrr: bool,
    version: Option<u16>,
    cipher: Option<u16>,
    suite: Option<Suite>,
    secrets: Secrets,
    /// TLS 1.2 ciphers derived at the ServerHello, installed at each side's CCS.
    pending12: [Option<RecordCipher>; 2],
    alpn: Option<String>,
    /// TLS 1.2 DEFLATE compression negotiated.
    deflate: bool,
    state: DecryptState,
    /// Set when decryption is over for the whole connection (failure, no keys, unsupported).
    done: bool,
    weirds: Vec<Weird>,
    weirds_dropped: bool,
}

impl Default for TlsDecryptor {
    fn default() -> Self {
        Self::new()
    }
}

impl TlsDecryptor {
    pub fn new() -> Self {
        TlsDecryptor {
            sides: [Side::new(), Side::new()],
            client_random: None,
            early_offered: false,
            hrr: false,
            version: None,
            cipher: None,
            suite: None,
            secrets: Secrets::default(),
            pending12: [None, None],
            alpn: None,
            deflate: false,
            state: DecryptState::NoKeys,
            done: false,
            weirds: Vec::new(),
            weirds_dropped: false,
        }
    }

    /// In-order bytes of one direction (`Orig` = client), `ready_ts` = when these bytes became
    /// readable. Decrypted application data is appended to `out`.
    pub fn data(
        &mut self,
        keys: &KeyLog,
        dir: Direction,
        ready_ts: Timestamp,
        bytes: &[u8],
        out: &mut Vec<Plaintext>,
    ) {
        let i = dir.idx();
        let mut input = bytes;
        while !input.is_empty() {
            let Some(side) = self.sides.get_mut(i) else {
                return;
            };
            side.last_ts = ready_ts;
            if self.done || side.stopped {
                return;
            }
            if side.rec.is_empty()
                && dir == Direction::Orig
                && self.client_random.is_none()
                && input.first().is_some_and(|b| b & 0x80 != 0)
            {
                // SSLv2-format ClientHello (old clients): take its challenge as the random.
                self.sslv2_client_hello(ready_ts, input);
                return;
            }
            if side.rec.len() < 5 {
                let take = (5 - side.rec.len()).min(input.len());
                let (a, b) = input.split_at(take);
                side.rec.extend_from_slice(a);
                input = b;
                if side.rec.len() < 5 {
                    break;
                }
            }
            let (typ, len) = match side.rec.as_slice() {
                [t, _, _, l0, l1, ..] => (*t, usize::from(u16::from_be_bytes([*l0, *l1]))),
                _ => break,
            };
            if !(CT_CCS..=24).contains(&typ) {
                self.fail(
                    ready_ts,
                    "tls-decrypt-bad-record",
                    format!("{dir:?} record content type {typ} is not TLS"),
                    "bad-record",
                );
                return;
            }
            if len > MAX_RECORD_LEN {
                self.fail(
                    ready_ts,
                    "tls-decrypt-record-too-long",
                    format!("{dir:?} record length {len} > {MAX_RECORD_LEN}"),
                    "bad-record",
                );
                return;
            }
            let need = (5 + len).saturating_sub(side.rec.len());
            let take = need.min(input.len());
            let (a, b) = input.split_at(take);
            side.rec.extend_from_slice(a);
            input = b;
            if side.rec.len() == 5 + len {
                let mut rec = std::mem::take(&mut side.rec);
                self.record(keys, dir, ready_ts, &mut rec, out);
                rec.clear();
                if let Some(side) = self.sides.get_mut(i) {
                    side.rec = rec;
                }
            }
        }
    }

    /// Bytes of `dir` were lost: record boundaries and sequence numbers are gone, so decryption
    /// of that direction stops (weird `tls-decrypt-gap` if it was decrypting).
    pub fn gap(&mut self, dir: Direction) {
        let Some(side) = self.sides.get_mut(dir.idx()) else {
            return;
        };
        if side.stopped {
            return;
        }
        side.stopped = true;
        side.rec.clear();
        side.pending.clear();
        side.pending_bytes = 0;
        let was_decrypting = side.cipher.is_some() && !self.done;
        side.cipher = None;
        let ts = side.last_ts;
        if was_decrypting {
            self.weird(
                ts,
                "tls-decrypt-gap",
                format!("{dir:?} stream has a gap; decryption of this direction stops"),
            );
        }
    }

    pub fn state(&self) -> DecryptState {
        self.state.clone()
    }

    /// Negotiated ALPN protocol: from the decrypted EncryptedExtensions (TLS 1.3) or the
    /// ServerHello (TLS 1.2).
    pub fn alpn(&self) -> Option<&str> {
        self.alpn.as_deref()
    }

    /// Negotiated version (0x0303, 0x0304, ...) once the ServerHello is seen.
    pub fn version(&self) -> Option<u16> {
        self.version
    }

    /// Negotiated cipher suite id once the ServerHello is seen.
    pub fn cipher_suite(&self) -> Option<u16> {
        self.cipher
    }

    /// Anomalies seen since the last call (e.g. `tls-decrypt-auth-failed`, `tls-keylog-missing`,
    /// `tls-unsupported-cipher`).
    pub fn weirds(&mut self) -> Vec<Weird> {
        std::mem::take(&mut self.weirds)
    }

    fn weird(&mut self, ts: Timestamp, kind: &'static str, detail: String) {
        if self.weirds.len() < MAX_WEIRDS {
            self.weirds.push(Weird::new(ts, kind, detail));
        } else if !self.weirds_dropped {
            self.weirds_dropped = true;
            self.weirds.push(Weird::new(
                ts,
                "tls-decrypt-weird-cap",
                format!("more than {MAX_WEIRDS} weirds on one connection; the rest are dropped"),
            ));
        }
    }

    /// Ends decryption of the whole connection.
    fn stop(&mut self, state: DecryptState) {
        self.state = state;
        self.done = true;
        for side in &mut self.sides {
            side.cipher = None;
            side.pending.clear();
            side.pending_bytes = 0;
        }
    }

    fn fail(&mut self, ts: Timestamp, kind: &'static str, detail: String, reason: &'static str) {
        self.weird(ts, kind, detail);
        self.stop(DecryptState::Failed(reason));
    }

    /// Handles one complete record of `dir`.
    fn record(
        &mut self,
        keys: &KeyLog,
        dir: Direction,
        ts: Timestamp,
        rec: &mut Vec<u8>,
        out: &mut Vec<Plaintext>,
    ) {
        let i = dir.idx();
        if self.done {
            return;
        }
        let Some(&typ) = rec.first() else { return };
        let Some(side) = self.sides.get_mut(i) else {
            return;
        };
        if side.stopped {
            return;
        }
        // Before the ServerHello only handshake and alerts can be read; anything else (a client
        // CCS, 0-RTT data) waits, and so does everything behind it.
        if !side.pending.is_empty()
            || (self.version.is_none() && typ != CT_HANDSHAKE && typ != CT_ALERT)
        {
            if side.pending.len() >= MAX_PENDING_RECORDS
                || side.pending_bytes.saturating_add(rec.len()) > MAX_PENDING_BYTES
            {
                let detail = format!(
                    "{dir:?}: more than {MAX_PENDING_RECORDS} records / {MAX_PENDING_BYTES} bytes before the ServerHello"
                );
                self.fail(ts, "tls-decrypt-queue-full", detail, "queue-full");
                return;
            }
            side.pending_bytes += rec.len();
            side.pending.push_back((ts, std::mem::take(rec)));
            return;
        }
        let tls13 = self.version == Some(TLS13);
        if side.cipher.is_none() && side.phase == Phase::Plain {
            match typ {
                CT_HANDSHAKE => {
                    let body = rec.get(5..).unwrap_or_default();
                    let mut msgs = Vec::new();
                    let too_long = side.hs.feed(body, &mut msgs);
                    self.too_long(ts, dir, too_long);
                    for (t, m) in msgs {
                        self.plain_handshake(keys, dir, ts, t, &m, out);
                    }
                    self.apply_switch(dir, ts);
                    return;
                }
                CT_CCS if !tls13 => {
                    // TLS 1.2: this side encrypts from the next record on.
                    if let Some(c) = self.pending12.get_mut(i).and_then(Option::take) {
                        side.cipher = Some(c);
                        side.phase = Phase::Tls12;
                        side.seq = 0;
                        side.hs = HsReader::default();
                        side.inflate = self.deflate.then(|| flate2::Decompress::new(true));
                    } else {
                        self.fail(
                            ts,
                            "tls-decrypt-unexpected-ccs",
                            format!("{dir:?} ChangeCipherSpec without negotiated keys"),
                            "unexpected-ccs",
                        );
                    }
                    return;
                }
                CT_APP_DATA if tls13 => {
                    if !self.start_tls13_side(dir, ts) {
                        return;
                    }
                }
                CT_APP_DATA => {
                    self.fail(
                        ts,
                        "tls-decrypt-unexpected-record",
                        format!("{dir:?} application data before ChangeCipherSpec"),
                        "unexpected-record",
                    );
                    return;
                }
                _ => return,
            }
        }
        if tls13 && typ != CT_APP_DATA {
            return; // compatibility CCS, plaintext alert
        }
        if !tls13 && typ == CT_CCS {
            self.fail(
                ts,
                "tls-decrypt-renegotiation",
                format!("{dir:?} second ChangeCipherSpec (renegotiation) is not followed"),
                "renegotiation",
            );
            return;
        }
        let Some(opened) = self.open_record(dir, ts, rec) else {
            return;
        };
        let (inner, range) = opened;
        let Some(side) = self.sides.get_mut(i) else {
            return;
        };
        let mut plain = rec.get(range).unwrap_or_default();
        let inflated;
        if let Some(z) = side.inflate.as_mut() {
            match inflate_record(z, plain) {
                Some(v) => {
                    inflated = v;
                    plain = &inflated;
                }
                None => {
                    let detail = format!("{dir:?} record does not decompress (TLS DEFLATE)");
                    self.fail(
                        ts,
                        "tls-decrypt-decompress-failed",
                        detail,
                        "decompress-failed",
                    );
                    return;
                }
            }
        }
        match inner {
            CT_APP_DATA if !plain.is_empty() => out.push(Plaintext {
                dir,
                ts,
                data: plain.to_vec(),
            }),
            CT_HANDSHAKE if tls13 => {
                let mut msgs = Vec::new();
                let too_long = side.hs.feed(plain, &mut msgs);
                self.too_long(ts, dir, too_long);
                for (t, m) in msgs {
                    self.encrypted_handshake(dir, t, &m);
                }
            }
            _ => {} // alerts, TLS 1.2 Finished / HelloRequest
        }
        self.apply_switch(dir, ts);
    }

    /// An SSLv2-compatible ClientHello (RFC 5246 E.2) must come whole in the first chunk;
    /// its challenge, left-padded with zeros, is the client random of the TLS handshake.
    /// The rest of the client stream is then read as TLS records again.
    fn sslv2_client_hello(&mut self, ts: Timestamp, input: &[u8]) {
        let parsed = (|| {
            let mut rd = Rd(input);
            let len = usize::from(rd.u16()? & 0x7fff);
            let mut rd = Rd(rd.take(len)?);
            (rd.u8()? == 1).then_some(())?;
            rd.u16()?;
            let (spec_len, sid_len, chal_len) = (rd.u16()?, rd.u16()?, rd.u16()?);
            rd.take(usize::from(spec_len))?;
            rd.take(usize::from(sid_len))?;
            let chal = rd.take(usize::from(chal_len))?;
            let mut random = [0u8; 32];
            let start = 32usize.checked_sub(chal.len())?;
            random.get_mut(start..)?.copy_from_slice(chal);
            Some((random, 2 + len))
        })();
        match parsed {
            Some((random, used)) => {
                self.client_random = Some(random);
                if let Some(side) = self.sides.get_mut(Direction::Orig.idx()) {
                    side.last_ts = ts;
                }
                if let Some(rest) = input.get(used..)
                    && !rest.is_empty()
                {
                    let mut out = Vec::new();
                    // Nothing after an SSLv2 hello can be application data yet.
                    self.data(&KeyLog::new(), Direction::Orig, ts, rest, &mut out);
                }
            }
            None => self.fail(
                ts,
                "tls-decrypt-bad-record",
                "client stream starts with neither a TLS record nor an SSLv2 ClientHello".into(),
                "bad-record",
            ),
        }
    }

    fn too_long(&mut self, ts: Timestamp, dir: Direction, n: usize) {
        if n > 0 {
            self.weird(
                ts,
                "tls-decrypt-handshake-too-long",
                format!("{dir:?}: {n} handshake message(s) longer than {MAX_HS_MSG} bytes skipped"),
            );
        }
    }

    /// Decrypts `rec` with the keys of `dir`, handling the 0-RTT trial; `None` when the record
    /// is dropped (skipped early data) or decryption failed (connection stopped).
    fn open_record(
        &mut self,
        dir: Direction,
        ts: Timestamp,
        rec: &mut [u8],
    ) -> Option<(u8, std::ops::Range<usize>)> {
        let side = self.sides.get_mut(dir.idx())?;
        if side.phase == Phase::EarlyTrial {
            if let Some(c) = &side.cipher {
                let mut copy = rec.to_vec();
                if let Some((t, r)) = c.open(side.seq, &mut copy) {
                    side.phase = Phase::Early;
                    side.seq = side.seq.wrapping_add(1);
                    rec.copy_from_slice(&copy);
                    return Some((t, r));
                }
            }
            // No (working) early key: the client is past its 0-RTT data or it was rejected.
            side.next = Some(Switch::Handshake);
            side.tolerate_failures = true;
            self.apply_switch(dir, ts);
        }
        let side = self.sides.get_mut(dir.idx())?;
        let len = rec.len();
        let cipher = side.cipher.as_ref()?;
        match cipher.open(side.seq, rec) {
            Some(res) => {
                side.tolerate_failures = false;
                side.seq = side.seq.wrapping_add(1);
                Some(res)
            }
            None if side.tolerate_failures && side.skipped_early < MAX_SKIPPED_EARLY => {
                side.skipped_early += 1;
                None
            }
            None => {
                let seq = side.seq;
                self.fail(ts, "tls-decrypt-auth-failed", format!("{dir:?} record #{seq} ({len} bytes) failed authentication; falling back to the encrypted view"), "auth-failed");
                None
            }
        }
    }

    /// First encrypted TLS 1.3 record of `dir` before any key was installed: the client's
    /// (0-RTT trial or handshake key). Returns false if decryption stopped.
    fn start_tls13_side(&mut self, dir: Direction, ts: Timestamp) -> bool {
        let Some(suite) = self.suite else {
            return false;
        };
        if dir == Direction::Orig && self.early_offered && !self.hrr {
            let early = self.secrets.client_early.clone();
            let cipher = early.as_deref().and_then(|s| RecordCipher::tls13(suite, s));
            if let Some(side) = self.sides.get_mut(dir.idx()) {
                side.secret = early.unwrap_or_default();
                side.cipher = cipher;
                side.phase = Phase::EarlyTrial;
                side.seq = 0;
            }
            return true;
        }
        if let Some(side) = self.sides.get_mut(dir.idx()) {
            side.next = Some(Switch::Handshake);
        }
        self.apply_switch(dir, ts);
        !self.done
    }

    /// Plaintext handshake message (ClientHello / ServerHello).
    fn plain_handshake(
        &mut self,
        keys: &KeyLog,
        dir: Direction,
        ts: Timestamp,
        typ: u8,
        body: &[u8],
        out: &mut Vec<Plaintext>,
    ) {
        match (dir, typ) {
            (Direction::Orig, HS_CLIENT_HELLO) => match parse_client_hello(body) {
                Some(ch) => {
                    self.client_random = Some(ch.random);
                    self.early_offered = ch.early_data && !self.hrr;
                }
                None => self.weird(
                    ts,
                    "tls-decrypt-bad-client-hello",
                    "ClientHello too short to read the random".into(),
                ),
            },
            (Direction::Resp, HS_SERVER_HELLO) => match parse_server_hello(body) {
                Some(sh) if sh.random == HRR_RANDOM => self.hrr = true,
                Some(sh) => {
                    self.server_hello(keys, ts, &sh);
                    // Records the client sent before the ServerHello (CCS, 0-RTT) can go now.
                    let queued = self
                        .sides
                        .get_mut(Direction::Orig.idx())
                        .map(|s| {
                            s.pending_bytes = 0;
                            std::mem::take(&mut s.pending)
                        })
                        .unwrap_or_default();
                    for (qts, mut rec) in queued {
                        self.record(keys, Direction::Orig, qts, &mut rec, out);
                    }
                }
                None => self.fail(
                    ts,
                    "tls-decrypt-bad-server-hello",
                    "ServerHello too short to read".into(),
                    "bad-server-hello",
                ),
            },
            _ => {}
        }
    }

    fn server_hello(&mut self, keys: &KeyLog, ts: Timestamp, sh: &ServerHello) {
        self.version = Some(sh.version);
        self.cipher = Some(sh.cipher);
        let suite = match sh.version {
            TLS13 => suite13(sh.cipher),
            TLS12 => suite12(sh.cipher),
            v => {
                let detail = format!(
                    "TLS version 0x{v:04x} (suite 0x{:04x}) is not decrypted",
                    sh.cipher
                );
                self.weird(ts, "tls-decrypt-unsupported-version", detail);
                self.stop(DecryptState::Unsupported(sh.cipher));
                return;
            }
        };
        let Some(suite) = suite else {
            self.weird(
                ts,
                "tls-unsupported-cipher",
                format!("cipher suite 0x{:04x} is not decrypted", sh.cipher),
            );
            self.stop(DecryptState::Unsupported(sh.cipher));
            return;
        };
        self.suite = Some(suite);
        match (sh.version, sh.compression) {
            (_, 0) => {}
            (TLS12, 1) => self.deflate = true,
            (_, c) => {
                self.weird(
                    ts,
                    "tls-decrypt-unsupported-compression",
                    format!("compression method {c} is not decompressed"),
                );
                self.stop(DecryptState::Unsupported(sh.cipher));
                return;
            }
        }
        if sh.version == TLS12 {
            self.alpn = sh.alpn.clone();
        }
        let Some(cr) = self.client_random else {
            self.weird(
                ts,
                "tls-keylog-missing",
                "no ClientHello seen: client random unknown".into(),
            );
            self.stop(DecryptState::NoKeys);
            return;
        };
        let Some(secrets) = keys.get(&cr) else {
            self.weird(
                ts,
                "tls-keylog-missing",
                format!("no key log entry for client random {}", hex(&cr)),
            );
            self.stop(DecryptState::NoKeys);
            return;
        };
        self.secrets = secrets.clone();
        if sh.version == TLS12 {
            let ciphers = self
                .secrets
                .master
                .as_deref()
                .and_then(|m| RecordCipher::tls12(suite, m, &cr, &sh.random, sh.etm));
            match ciphers {
                Some([c, s]) => {
                    self.pending12 = [Some(c), Some(s)];
                    self.state = DecryptState::Decrypting;
                }
                None => {
                    self.weird(
                        ts,
                        "tls-keylog-missing",
                        format!("no CLIENT_RANDOM master secret for {}", hex(&cr)),
                    );
                    self.stop(DecryptState::NoKeys);
                }
            }
        } else if let Some(side) = self.sides.get_mut(Direction::Resp.idx()) {
            // The server encrypts from the record after the one holding the ServerHello.
            side.next = Some(Switch::Handshake);
            self.state = DecryptState::Decrypting;
        }
    }

    /// Decrypted TLS 1.3 handshake message of `dir`.
    fn encrypted_handshake(&mut self, dir: Direction, typ: u8, body: &[u8]) {
        let Some(side) = self.sides.get_mut(dir.idx()) else {
            return;
        };
        match typ {
            HS_ENCRYPTED_EXTENSIONS if dir == Direction::Resp => {
                let mut alpn = None;
                if for_each_ext(body, |t, d| {
                    if t == EXT_ALPN {
                        alpn = parse_alpn(d);
                    }
                })
                .is_some()
                {
                    self.alpn = alpn;
                }
            }
            HS_FINISHED if matches!(side.phase, Phase::Handshake) => side.next = Some(Switch::App),
            HS_END_OF_EARLY_DATA if side.phase == Phase::Early => {
                side.next = Some(Switch::Handshake)
            }
            HS_KEY_UPDATE if side.phase == Phase::App => side.next = Some(Switch::Update),
            _ => {} // NewSessionTicket, post-handshake auth, ...
        }
    }

    /// Applies the key change pending for `dir` (after the record that announced it).
    fn apply_switch(&mut self, dir: Direction, ts: Timestamp) {
        let Some(suite) = self.suite else { return };
        let Some(side) = self.sides.get_mut(dir.idx()) else {
            return;
        };
        let Some(sw) = side.next.take() else { return };
        let client = dir == Direction::Orig;
        let (secret, label) = match sw {
            Switch::Handshake if client => (
                self.secrets.client_hs.clone(),
                "CLIENT_HANDSHAKE_TRAFFIC_SECRET",
            ),
            Switch::Handshake => (
                self.secrets.server_hs.clone(),
                "SERVER_HANDSHAKE_TRAFFIC_SECRET",
            ),
            Switch::App if client => (self.secrets.client_app.clone(), "CLIENT_TRAFFIC_SECRET_0"),
            Switch::App => (self.secrets.server_app.clone(), "SERVER_TRAFFIC_SECRET_0"),
            Switch::Update => (
                expand_label(suite.hash, &side.secret, b"traffic upd", suite.hash.len()),
                "KeyUpdate secret",
            ),
        };
        let cipher = secret
            .as_deref()
            .and_then(|s| RecordCipher::tls13(suite, s));
        match (secret, cipher) {
            (Some(secret), Some(cipher)) => {
                side.secret = secret;
                side.cipher = Some(cipher);
                side.seq = 0;
                side.phase = match sw {
                    Switch::Handshake => Phase::Handshake,
                    Switch::App | Switch::Update => Phase::App,
                };
            }
            _ => {
                self.weird(
                    ts,
                    "tls-keylog-missing",
                    format!("{dir:?}: {label} missing or unusable for this connection"),
                );
                self.stop(DecryptState::NoKeys);
            }
        }
    }
}

/// Inflates one TLS DEFLATE record (ends with a sync flush); at most 2^14 + 1024 bytes out.
fn inflate_record(z: &mut flate2::Decompress, input: &[u8]) -> Option<Vec<u8>> {
    const MAX_OUT: usize = (1 << 14) + 1024;
    let mut out = Vec::with_capacity(MAX_OUT);
    let start = z.total_in();
    loop {
        let used = usize::try_from(z.total_in().checked_sub(start)?).ok()?;
        let rest = input.get(used..)?;
        if rest.is_empty() {
            return Some(out);
        }
        let before = (z.total_in(), out.len());
        z.decompress_vec(rest, &mut out, flate2::FlushDecompress::Sync)
            .ok()?;
        if (z.total_in(), out.len()) == before {
            return None; // no progress: output full or stream broken
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Fixtures: per-direction TCP payload chunks in capture order, extracted with
    // `tshark -r PCAP -q -z follow,tcp,raw,N` (tools/follow2bin.py), stored as repeated
    // [dir u8 (0 = client)][len u32 BE][bytes]. Expected plaintexts are what
    // `tshark -o tls.keylog_file:KEYS -r PCAP -q -z follow,tls,raw,N` shows for the same stream.

    /// syncsynchalt/illustrated-tls13 captures/capture.pcap, stream 0: TLS 1.3, 0x1302.
    const T13_ILLUSTRATED: &[u8] =
        include_bytes!("../../testdata/decrypt/tls13_aes256gcm_illustrated.bin");
    const T13_ILLUSTRATED_KEYS: &[u8] =
        include_bytes!("../../testdata/decrypt/tls13_aes256gcm_illustrated.keys");
    /// FoxIO-LLC/ja4 pcap/chrome-cloudflare-quic-with-secrets.pcapng, TCP stream 0: TLS 1.3,
    /// 0x1301, HTTP/2; keys are the TLS lines of the file's DSB for this client random.
    const T13_CLOUDFLARE: &[u8] =
        include_bytes!("../../testdata/decrypt/tls13_aes128gcm_h2_cloudflare.bin");
    const T13_CLOUDFLARE_KEYS: &[u8] =
        include_bytes!("../../testdata/decrypt/tls13_aes128gcm_h2_cloudflare.keys");
    /// Voev/snet tests/pcap/data/decrypt_by_keylog/tls1.3_keyupdates_aes256.pcap (frames 18 and
    /// 22 carry KeyUpdate, one per side): TLS 1.3, 0x1302.
    const T13_KEYUPDATE: &[u8] =
        include_bytes!("../../testdata/decrypt/tls13_keyupdate_aes256gcm.bin");
    const T13_KEYUPDATE_KEYS: &[u8] =
        include_bytes!("../../testdata/decrypt/tls13_keyupdate_aes256gcm.keys");
    /// Lekensteyn/wireshark-notes tls/http2-16-ssl.pcapng, stream 1: TLS 1.2, 0xc02f, ALPN h2-16.
    const T12_H2: &[u8] = include_bytes!("../../testdata/decrypt/tls12_ecdhe_aes128gcm_h2.bin");
    const T12_H2_KEYS: &[u8] =
        include_bytes!("../../testdata/decrypt/tls12_ecdhe_aes128gcm_h2.keys");
    /// Voev/snet tests/pcap/data/decrypt_by_keylog/tls1_2.pcap: TLS 1.2, 0xc030.
    const T12_GCM256: &[u8] = include_bytes!("../../testdata/decrypt/tls12_ecdhe_aes256gcm.bin");
    const T12_GCM256_KEYS: &[u8] =
        include_bytes!("../../testdata/decrypt/tls12_ecdhe_aes256gcm.keys");
    /// syncsynchalt/illustrated-tls12 captures/capture.pcap: TLS 1.2, 0xc013 (AES-128-CBC-SHA).
    const T12_CBC: &[u8] = include_bytes!("../../testdata/decrypt/tls12_ecdhe_aes128cbc_sha.bin");
    const T12_CBC_KEYS: &[u8] =
        include_bytes!("../../testdata/decrypt/tls12_ecdhe_aes128cbc_sha.keys");

    fn chunks(bin: &[u8]) -> Vec<(Direction, Vec<u8>)> {
        let mut rd = Rd(bin);
        let mut v = Vec::new();
        while let Some(d) = rd.u8() {
            let n = u32::from_be_bytes(rd.take(4).unwrap().try_into().unwrap()) as usize;
            let dir = if d == 0 {
                Direction::Orig
            } else {
                Direction::Resp
            };
            v.push((dir, rd.take(n).unwrap().to_vec()));
        }
        v
    }

    fn keylog(text: &[u8]) -> KeyLog {
        let mut k = KeyLog::new();
        assert!(k.add_text(text) > 0);
        k
    }

    struct Run {
        dec: TlsDecryptor,
        out: Vec<Plaintext>,
        weirds: Vec<Weird>,
    }

    impl Run {
        fn text(&self, dir: Direction) -> Vec<u8> {
            self.out
                .iter()
                .filter(|p| p.dir == dir)
                .flat_map(|p| p.data.clone())
                .collect()
        }
    }

    fn run_chunks(chunks: &[(Direction, Vec<u8>)], keys: &KeyLog) -> Run {
        let mut dec = TlsDecryptor::new();
        let mut out = Vec::new();
        for (i, (dir, bytes)) in chunks.iter().enumerate() {
            dec.data(keys, *dir, Timestamp(i as i64 * 1000), bytes, &mut out);
        }
        let weirds = dec.weirds();
        Run { dec, out, weirds }
    }

    fn run(bin: &[u8], keys: &[u8]) -> Run {
        run_chunks(&chunks(bin), &keylog(keys))
    }

    #[test]
    fn tls13_aes256gcm_illustrated_ping_pong() {
        let r = run(T13_ILLUSTRATED, T13_ILLUSTRATED_KEYS);
        assert_eq!(r.dec.state(), DecryptState::Decrypting);
        assert_eq!(
            (r.dec.version(), r.dec.cipher_suite()),
            (Some(0x0304), Some(0x1302))
        );
        assert_eq!(r.text(Direction::Orig), b"ping");
        assert_eq!(r.text(Direction::Resp), b"pong");
        assert_eq!(r.dec.alpn(), None);
        assert!(r.weirds.is_empty(), "{:?}", r.weirds);
    }

    #[test]
    fn tls13_aes128gcm_h2_preface_and_alpn() {
        let r = run(T13_CLOUDFLARE, T13_CLOUDFLARE_KEYS);
        assert_eq!(r.dec.cipher_suite(), Some(0x1301));
        assert_eq!(r.dec.state(), DecryptState::Decrypting);
        assert_eq!(r.dec.alpn(), Some("h2"));
        let c = r.text(Direction::Orig);
        let s = r.text(Direction::Resp);
        assert!(c.starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        // tshark follow,tls: 536 bytes client -> server, 10331 server -> client.
        assert_eq!((c.len(), s.len()), (536, 10331));
        // The server's first frame is SETTINGS (type 4) on stream 0.
        assert_eq!(s.get(3..5), Some(&[4u8, 0][..]));
        // NewSessionTickets (frame 14) are not plaintext; every Plaintext is non-empty.
        assert!(r.out.iter().all(|p| !p.data.is_empty()));
        assert!(r.weirds.is_empty(), "{:?}", r.weirds);
    }

    #[test]
    fn tls13_key_update_both_directions() {
        let r = run(T13_KEYUPDATE, T13_KEYUPDATE_KEYS);
        assert_eq!(
            r.text(Direction::Orig),
            b"hello\nkeyupdate\nhello\nbye\nkill\n"
        );
        assert_eq!(r.text(Direction::Resp), b"hello\nkeyupdate\nhello\nbye\n");
        assert_eq!(r.dec.state(), DecryptState::Decrypting);
        // Both sides moved past traffic secret 0.
        let keys = keylog(T13_KEYUPDATE_KEYS);
        let s = keys.map.values().next().unwrap();
        assert_ne!(Some(&r.dec.sides[0].secret), s.client_app.as_ref());
        assert_ne!(Some(&r.dec.sides[1].secret), s.server_app.as_ref());
        assert!(r.weirds.is_empty(), "{:?}", r.weirds);
    }

    #[test]
    fn tls12_ecdhe_aes128gcm_h2() {
        let r = run(T12_H2, T12_H2_KEYS);
        assert_eq!(
            (r.dec.version(), r.dec.cipher_suite()),
            (Some(0x0303), Some(0xc02f))
        );
        assert_eq!(r.dec.alpn(), Some("h2-16"));
        let c = r.text(Direction::Orig);
        assert!(c.starts_with(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
        // tshark follow,tls,raw,1 shows 350 bytes in total.
        assert_eq!(c.len() + r.text(Direction::Resp).len(), 350);
        assert!(r.weirds.is_empty(), "{:?}", r.weirds);
    }

    #[test]
    fn tls12_ecdhe_aes256gcm_get() {
        let r = run(T12_GCM256, T12_GCM256_KEYS);
        assert_eq!(r.dec.cipher_suite(), Some(0xc030));
        let c = r.text(Direction::Orig);
        let s = r.text(Direction::Resp);
        assert!(c.starts_with(b"GET / HTTP/1.1\nA\nAA\n"));
        assert!(s.starts_with(b"GET / HTTP/1.1\nA\nAA\n")); // an echo server
        assert_eq!(c.len() + s.len(), 638);
        // The encrypted Finished of each side is not application data.
        assert!(r.out.iter().all(|p| p.data.first() != Some(&20)));
    }

    #[test]
    fn tls12_aes128_cbc_sha_ping_pong() {
        let r = run(T12_CBC, T12_CBC_KEYS);
        assert_eq!(r.dec.cipher_suite(), Some(0xc013));
        assert_eq!(r.text(Direction::Orig), b"ping");
        assert_eq!(r.text(Direction::Resp), b"pong");
        assert!(r.weirds.is_empty(), "{:?}", r.weirds);
    }

    #[test]
    fn streaming_byte_by_byte_matches_whole() {
        let keys = keylog(T13_CLOUDFLARE_KEYS);
        let whole = run_chunks(&chunks(T13_CLOUDFLARE), &keys);
        let bytes: Vec<(Direction, Vec<u8>)> = chunks(T13_CLOUDFLARE)
            .into_iter()
            .flat_map(|(d, b)| b.into_iter().map(move |x| (d, vec![x])))
            .collect();
        let split = run_chunks(&bytes, &keys);
        assert_eq!(split.text(Direction::Orig), whole.text(Direction::Orig));
        assert_eq!(split.text(Direction::Resp), whole.text(Direction::Resp));
    }

    /// Flips one ciphertext byte of the last chunk of `dir` holding application data.
    fn corrupt(bin: &[u8], dir: Direction) -> Vec<(Direction, Vec<u8>)> {
        let mut c = chunks(bin);
        let last = c
            .iter()
            .rposition(|(d, b)| *d == dir && b.first() == Some(&23))
            .unwrap();
        c[last].1[10] ^= 0x01;
        c
    }

    #[test]
    fn auth_failure_falls_back_tls13() {
        let keys = keylog(T13_KEYUPDATE_KEYS);
        // Chunk 12 is the server's second "hello", the first record under its updated key.
        let mut c = chunks(T13_KEYUPDATE);
        c[12].1[10] ^= 0x01;
        let r = run_chunks(&c, &keys);
        assert_eq!(r.dec.state(), DecryptState::Failed("auth-failed"));
        assert!(r.weirds.iter().any(|w| w.kind == "tls-decrypt-auth-failed"));
        // Everything before the bad record was delivered, nothing after, in either direction.
        assert_eq!(r.text(Direction::Resp), b"hello\nkeyupdate\n");
        assert_eq!(r.text(Direction::Orig), b"hello\nkeyupdate\nhello\n");
    }

    #[test]
    fn auth_failure_falls_back_tls12() {
        let keys = keylog(T12_GCM256_KEYS);
        let r = run_chunks(&corrupt(T12_GCM256, Direction::Orig), &keys);
        assert_eq!(r.dec.state(), DecryptState::Failed("auth-failed"));
        assert_eq!(
            r.weirds
                .iter()
                .filter(|w| w.kind == "tls-decrypt-auth-failed")
                .count(),
            1
        );
    }

    #[test]
    fn cbc_mac_failure_is_auth_failure() {
        let keys = keylog(T12_CBC_KEYS);
        let r = run_chunks(&corrupt(T12_CBC, Direction::Resp), &keys);
        assert_eq!(r.dec.state(), DecryptState::Failed("auth-failed"));
        assert_eq!(r.text(Direction::Orig), b"ping");
        assert_eq!(r.text(Direction::Resp), b"");
    }

    #[test]
    fn missing_keys_report_no_keys() {
        let mut keys = KeyLog::new();
        keys.add_text(T12_CBC_KEYS); // keys for another connection
        let r = run_chunks(&chunks(T13_ILLUSTRATED), &keys);
        assert_eq!(r.dec.state(), DecryptState::NoKeys);
        assert!(r.out.is_empty());
        assert_eq!(
            r.weirds.iter().map(|w| w.kind).collect::<Vec<_>>(),
            ["tls-keylog-missing"]
        );
    }

    #[test]
    fn gap_stops_one_direction() {
        let keys = keylog(T12_GCM256_KEYS);
        let c = chunks(T12_GCM256);
        let mut dec = TlsDecryptor::new();
        let mut out = Vec::new();
        let first_app = c.iter().position(|(_, b)| b.first() == Some(&23)).unwrap();
        for (i, (d, b)) in c.iter().enumerate() {
            if i == first_app {
                dec.gap(Direction::Resp);
            }
            dec.data(&keys, *d, Timestamp(i as i64), b, &mut out);
        }
        assert!(out.iter().all(|p| p.dir == Direction::Orig));
        assert!(!out.is_empty());
        assert_eq!(
            dec.weirds().iter().map(|w| w.kind).collect::<Vec<_>>(),
            ["tls-decrypt-gap"]
        );
    }

    #[test]
    fn oversized_and_non_tls_records() {
        let keys = KeyLog::new();
        let mut out = Vec::new();
        let mut d = TlsDecryptor::new();
        d.data(
            &keys,
            Direction::Resp,
            Timestamp(5),
            &[23, 3, 3, 0xff, 0xff, 0],
            &mut out,
        );
        assert_eq!(d.state(), DecryptState::Failed("bad-record"));
        assert_eq!(d.weirds()[0].kind, "tls-decrypt-record-too-long");
        let mut d = TlsDecryptor::new();
        d.data(
            &keys,
            Direction::Orig,
            Timestamp(5),
            b"GET / HTTP/1.1\r\n",
            &mut out,
        );
        assert_eq!(d.weirds()[0].kind, "tls-decrypt-bad-record");
        assert!(out.is_empty());
    }

    #[test]
    fn keylog_parsing() {
        let mut k = KeyLog::new();
        let cr = "00".repeat(32);
        let text = format!(
            "# comment\r\n\r\nCLIENT_RANDOM {cr} {}\r\nSERVER_TRAFFIC_SECRET_0 {} {}\n\
             EXPORTER_SECRET {cr} {}\nCLIENT_RANDOM {cr} abcd\nBOGUS {cr} {}\nCLIENT_RANDOM zz\n\
             CLIENT_HANDSHAKE_TRAFFIC_SECRET {cr} {}\0\0",
            "AB".repeat(48),
            "11".repeat(32),
            "cd".repeat(48),
            "01".repeat(32),
            "01".repeat(32),
            "02".repeat(32),
        );
        assert_eq!(k.add_text(text.as_bytes()), 3);
        assert_eq!((k.len(), k.bad_lines(), k.ignored_lines()), (2, 3, 1));
        let s = k.get(&[0; 32]).unwrap();
        assert_eq!(s.master.as_deref(), Some(&[0xab; 48][..]));
        assert_eq!(s.client_hs.as_deref(), Some(&[2; 32][..]));
        assert_eq!(
            k.get(&[0x11; 32]).unwrap().server_app.as_deref(),
            Some(&[0xcd; 48][..])
        );
    }

    // ---- synthetic connections for what no public capture has (ChaCha20, 0-RTT, HRR) ----

    fn record(typ: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![typ, 3, 3];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn hs(typ: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![typ, 0];
        m.extend_from_slice(&(body.len() as u16).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    fn ext(typ: u16, data: &[u8]) -> Vec<u8> {
        let mut e = typ.to_be_bytes().to_vec();
        e.extend_from_slice(&(data.len() as u16).to_be_bytes());
        e.extend_from_slice(data);
        e
    }

    fn with_exts(mut head: Vec<u8>, exts: &[Vec<u8>]) -> Vec<u8> {
        let all: Vec<u8> = exts.concat();
        head.extend_from_slice(&(all.len() as u16).to_be_bytes());
        head.extend_from_slice(&all);
        head
    }

    fn client_hello(random: [u8; 32], early: bool) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&random);
        b.extend_from_slice(&[0, 0, 2, 0x13, 0x03, 1, 0]);
        let exts = if early {
            vec![ext(EXT_EARLY_DATA, &[])]
        } else {
            vec![]
        };
        record(CT_HANDSHAKE, &hs(HS_CLIENT_HELLO, &with_exts(b, &exts)))
    }

    fn server_hello(random: [u8; 32], suite: u16, version: u16, exts: &[Vec<u8>]) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&random);
        b.push(0);
        b.extend_from_slice(&suite.to_be_bytes());
        b.push(0);
        let mut exts = exts.to_vec();
        if version == TLS13 {
            exts.push(ext(EXT_SUPPORTED_VERSIONS, &TLS13.to_be_bytes()));
        }
        record(CT_HANDSHAKE, &hs(HS_SERVER_HELLO, &with_exts(b, &exts)))
    }

    fn alpn_ext(name: &[u8]) -> Vec<u8> {
        let mut list = vec![name.len() as u8];
        list.extend_from_slice(name);
        let mut d = (list.len() as u16).to_be_bytes().to_vec();
        d.extend_from_slice(&list);
        ext(EXT_ALPN, &d)
    }

    fn seal(aead: &Aead, nonce: [u8; 12], aad: &[u8], pt: &mut Vec<u8>) {
        let n = GenericArray::from(nonce);
        let tag = match aead {
            Aead::Aes128(c) => c.encrypt_in_place_detached(&n, aad, pt),
            Aead::Aes256(c) => c.encrypt_in_place_detached(&n, aad, pt),
            Aead::ChaCha(c) => c.encrypt_in_place_detached(&n, aad, pt),
        }
        .unwrap();
        pt.extend_from_slice(&tag);
    }

    /// A TLS 1.3 record sealed with `secret` (same derivation as RFC 8446 7.3).
    fn seal13(suite: Suite, secret: &[u8], seq: u64, inner: u8, data: &[u8]) -> Vec<u8> {
        let key = expand_label(suite.hash, secret, b"key", suite.bulk.key_len()).unwrap();
        let iv: [u8; 12] = expand_label(suite.hash, secret, b"iv", 12)
            .unwrap()
            .try_into()
            .unwrap();
        let mut pt = data.to_vec();
        pt.push(inner);
        pt.extend_from_slice(&[0, 0, 0]); // padding
        let hdr = [CT_APP_DATA, 3, 3, 0, 0];
        let len = (pt.len() + TAG_LEN) as u16;
        let hdr = [hdr[0], hdr[1], hdr[2], (len >> 8) as u8, len as u8];
        seal(
            &Aead::new(suite.bulk, &key).unwrap(),
            nonce_xor(iv, seq),
            &hdr,
            &mut pt,
        );
        let mut r = hdr.to_vec();
        r.extend_from_slice(&pt);
        r
    }

    struct Synth {
        keys: KeyLog,
        flow: Vec<(Direction, Vec<u8>)>,
    }

    /// TLS 1.3 ChaCha20-Poly1305 connection; optionally with a HelloRetryRequest first, or with
    /// 0-RTT data (`early`: Some(accepted)).
    fn synth13(hrr: bool, early: Option<bool>, log_early: bool) -> Synth {
        let suite = suite13(0x1303).unwrap();
        let cr = [0x77; 32];
        let (chs, shs, cap, sap, ets) = ([1u8; 32], [2u8; 32], [3u8; 32], [4u8; 32], [5u8; 32]);
        let h = |b: &[u8; 32]| hex(b);
        let mut text = format!(
            "CLIENT_HANDSHAKE_TRAFFIC_SECRET {0} {1}\nSERVER_HANDSHAKE_TRAFFIC_SECRET {0} {2}\n\
             CLIENT_TRAFFIC_SECRET_0 {0} {3}\nSERVER_TRAFFIC_SECRET_0 {0} {4}\n",
            h(&cr),
            h(&chs),
            h(&shs),
            h(&cap),
            h(&sap)
        );
        if log_early {
            text.push_str(&format!(
                "CLIENT_EARLY_TRAFFIC_SECRET {} {}\n",
                h(&cr),
                h(&ets)
            ));
        }
        let keys = keylog(text.as_bytes());
        let (o, r) = (Direction::Orig, Direction::Resp);
        let mut flow = vec![(o, client_hello(cr, early.is_some()))];
        if hrr {
            flow.push((r, server_hello(HRR_RANDOM, 0x1303, TLS13, &[])));
            flow.push((o, record(CT_CCS, &[1])));
            flow.push((o, client_hello(cr, false)));
        }
        if let Some(accepted) = early {
            let key = if accepted { ets } else { [0xee; 32] }; // rejected: unknown key
            flow.push((o, record(CT_CCS, &[1])));
            flow.push((o, seal13(suite, &key, 0, CT_APP_DATA, b"GET /early")));
            if accepted {
                flow.push((
                    o,
                    seal13(suite, &ets, 1, CT_HANDSHAKE, &hs(HS_END_OF_EARLY_DATA, &[])),
                ));
            }
        }
        flow.push((r, server_hello([0x55; 32], 0x1303, TLS13, &[])));
        flow.push((r, record(CT_CCS, &[1])));
        let mut flight = hs(
            HS_ENCRYPTED_EXTENSIONS,
            &with_exts(vec![], &[alpn_ext(b"h2")]),
        );
        flight.extend(hs(HS_FINISHED, &[9; 32]));
        flow.push((r, seal13(suite, &shs, 0, CT_HANDSHAKE, &flight)));
        flow.push((r, seal13(suite, &sap, 0, CT_HANDSHAKE, &hs(4, &[0; 20])))); // NewSessionTicket
        flow.push((
            o,
            seal13(suite, &chs, 0, CT_HANDSHAKE, &hs(HS_FINISHED, &[8; 32])),
        ));
        flow.push((o, seal13(suite, &cap, 0, CT_APP_DATA, b"GET /")));
        flow.push((r, seal13(suite, &sap, 1, CT_APP_DATA, b"HTTP/1.1 200 OK")));
        Synth { keys, flow }
    }

    #[test]
    fn tls13_chacha20_poly1305() {
        let s = synth13(false, None, false);
        let r = run_chunks(&s.flow, &s.keys);
        assert!(r.weirds.is_empty(), "{:?}", r.weirds);
        assert_eq!(r.dec.cipher_suite(), Some(0x1303));
        assert_eq!(r.dec.alpn(), Some("h2"));
        assert_eq!(r.text(Direction::Orig), b"GET /");
        assert_eq!(r.text(Direction::Resp), b"HTTP/1.1 200 OK");
    }

    #[test]
    fn tls13_hello_retry_request_waits_for_real_server_hello() {
        let s = synth13(true, None, false);
        let r = run_chunks(&s.flow, &s.keys);
        assert!(r.weirds.is_empty(), "{:?}", r.weirds);
        assert_eq!(r.text(Direction::Orig), b"GET /");
        assert_eq!(r.text(Direction::Resp), b"HTTP/1.1 200 OK");
    }

    #[test]
    fn tls13_early_data_accepted_and_rejected() {
        let s = synth13(false, Some(true), true);
        let r = run_chunks(&s.flow, &s.keys);
        assert!(r.weirds.is_empty(), "{:?}", r.weirds);
        assert_eq!(r.text(Direction::Orig), b"GET /earlyGET /");
        // The 0-RTT record was queued before the ServerHello: it keeps its own timestamp.
        assert_eq!(r.out[0].ts, Timestamp(2000));
        // Rejected 0-RTT (or no early secret logged): skipped silently, the rest decrypts.
        for (accepted, logged) in [(false, true), (true, false)] {
            let s = synth13(false, Some(accepted), logged);
            let r = run_chunks(&s.flow, &s.keys);
            if accepted {
                // EndOfEarlyData is under the early key too: skipped as well.
                assert_eq!(r.dec.sides[0].skipped_early, 2);
            }
            assert_eq!(r.text(Direction::Orig), b"GET /");
            assert_eq!(r.dec.state(), DecryptState::Decrypting);
        }
    }

    #[test]
    fn tls12_chacha20_poly1305_and_unsupported_suite() {
        let (cr, sr, master) = ([0x21u8; 32], [0x42u8; 32], [0x63u8; 48]);
        let keys = keylog(format!("CLIENT_RANDOM {} {}", hex(&cr), hex(&master)).as_bytes());
        let suite = suite12(0xcca8).unwrap();
        let mut seed = sr.to_vec();
        seed.extend_from_slice(&cr);
        let kb = prf(
            HashAlg::Sha256,
            &master,
            b"key expansion",
            &seed,
            2 * (32 + 12),
        )
        .unwrap();
        let seal12 = |side: usize, seq: u64, typ: u8, data: &[u8]| {
            let key = &kb[side * 32..side * 32 + 32];
            let iv: [u8; 12] = kb[64 + side * 12..76 + side * 12].try_into().unwrap();
            let mut pt = data.to_vec();
            let aad = aad12(seq, &[typ, 3, 3], pt.len()).unwrap();
            seal(
                &Aead::new(suite.bulk, key).unwrap(),
                nonce_xor(iv, seq),
                &aad,
                &mut pt,
            );
            record(typ, &pt)
        };
        let (o, r) = (Direction::Orig, Direction::Resp);
        let flow = vec![
            (o, client_hello(cr, false)),
            (r, server_hello(sr, 0xcca8, TLS12, &[alpn_ext(b"http/1.1")])),
            (o, record(CT_CCS, &[1])),
            (o, seal12(0, 0, CT_HANDSHAKE, &hs(HS_FINISHED, &[0; 12]))),
            (o, seal12(0, 1, CT_APP_DATA, b"GET /chacha")),
            (r, record(CT_CCS, &[1])),
            (r, seal12(1, 0, CT_HANDSHAKE, &hs(HS_FINISHED, &[0; 12]))),
            (r, seal12(1, 1, CT_APP_DATA, b"HTTP/1.1 204")),
        ];
        let run = run_chunks(&flow, &keys);
        assert!(run.weirds.is_empty(), "{:?}", run.weirds);
        assert_eq!(run.dec.alpn(), Some("http/1.1"));
        assert_eq!(run.text(o), b"GET /chacha");
        assert_eq!(run.text(r), b"HTTP/1.1 204");
        // Same flow but the server picks RC4 (0x0005): unsupported, no plaintext.
        let mut flow = flow;
        flow[1].1 = server_hello(sr, 0x0005, TLS12, &[]);
        let run = run_chunks(&flow, &keys);
        assert_eq!(run.dec.state(), DecryptState::Unsupported(5));
        assert_eq!(run.weirds[0].kind, "tls-unsupported-cipher");
        assert!(run.out.is_empty());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(
            parts in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..20)
        ) {
            let keys = keylog(T12_CBC_KEYS);
            let mut d = TlsDecryptor::new();
            let mut out = Vec::new();
            for (i, (orig, bytes)) in parts.iter().enumerate() {
                let dir = if *orig { Direction::Orig } else { Direction::Resp };
                d.data(&keys, dir, Timestamp(i as i64), bytes, &mut out);
            }
            let _ = d.weirds();
        }

        #[test]
        fn any_split_gives_same_plaintext(cuts in proptest::collection::vec(1usize..400, 1..40)) {
            let keys = keylog(T12_GCM256_KEYS);
            let whole = run_chunks(&chunks(T12_GCM256), &keys);
            let mut split = Vec::new();
            let mut k = 0;
            for (d, b) in chunks(T12_GCM256) {
                let mut rest = &b[..];
                while !rest.is_empty() {
                    let n = cuts[k % cuts.len()].min(rest.len());
                    k += 1;
                    split.push((d, rest[..n].to_vec()));
                    rest = &rest[n..];
                }
            }
            let r = run_chunks(&split, &keys);
            prop_assert_eq!(r.text(Direction::Orig), whole.text(Direction::Orig));
            prop_assert_eq!(r.text(Direction::Resp), whole.text(Direction::Resp));
        }
    }
}
