//! The on-disk model format: one versioned binary file, checksummed, independent of in-memory types.
//!
//! ```text
//! offset  size  field
//! 0       8     magic "SARINGNB"
//! 8       4     format version, u32 little-endian (FORMAT_VERSION)
//! 12      8     payload length in bytes, u64 little-endian
//! 20      n     payload (below)
//! 20+n    32    SHA-256 of bytes 0 .. 20+n
//! ```
//!
//! Payload, all integers little-endian, floats as IEEE-754 bits, strings as u32 length + UTF-8 bytes:
//! model version (string); tokenizer version (u32); char n-gram min and max (u8, u8); length scale (f64);
//! thresholds accept_below and reject_at on spam log-odds (f64, f64); bias (f64); vocabulary length
//! (u32); then per token in ascending byte order: token (string), weight (f64).
//!
//! Version 1 stored two log-probabilities per token and the family weights; version 2 stores what
//! scoring needs, one weight per token, so that a naive Bayes model and one with a logistic layer on top
//! (NBSVM) are served alike.
//!
//! The file holds no timestamp, so the same data and seed give a byte-identical file; dates live in the
//! model card beside it.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{Model, Parts};
use crate::model::decision::Thresholds;
use crate::model::tokenize::{Settings, TOKENIZER_VERSION};

/// Version of this file layout. Bumped on any change to it; older files are refused, not guessed at.
/// 2: one weight per token and a bias, instead of two log-probabilities per token and class priors.
pub const FORMAT_VERSION: u32 = 2;

const MAGIC: &[u8; 8] = b"SARINGNB";
const HEADER_LEN: usize = 20;
const CHECKSUM_LEN: usize = 32;

/// Longest n-gram a file may ask for; beyond this the file is more likely corrupt than intended.
const MAX_NGRAM: u8 = 16;

/// Why a model file was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing failed.
    #[error("cannot access model file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a model file, or is damaged.
    #[error("model file {path}: {problem}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, e.g. "truncated: 120 bytes, header says 4096".
        problem: String,
    },
    /// The file was written by another format version.
    #[error("model file {path}: format version {found}, this saring reads version {supported}")]
    WrongVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
}

pub(super) fn load(path: &Path) -> Result<Model, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode(&bytes, path)
}

pub(super) fn save(model: &Model, path: &Path) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    // Write beside the target and rename, so a server reloading the file never sees half of it.
    let tmp = path.with_extension("model.tmp");
    std::fs::write(&tmp, encode(model)).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

pub(super) fn encode(model: &Model) -> Vec<u8> {
    let payload = encode_payload(
        &model.version,
        model.settings,
        model.length_scale,
        model.thresholds,
        model.bias,
        model
            .tokens
            .iter()
            .map(|t| &**t)
            .zip(model.weight.iter().copied()),
    );
    frame(&payload)
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + CHECKSUM_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    out
}

fn encode_payload<'a>(
    version: &str,
    settings: Settings,
    length_scale: f64,
    thresholds: Thresholds,
    bias: f64,
    vocabulary: impl ExactSizeIterator<Item = (&'a str, f64)>,
) -> Vec<u8> {
    let mut w = Vec::new();
    put_str(&mut w, version);
    w.extend_from_slice(&TOKENIZER_VERSION.to_le_bytes());
    w.push(settings.char_ngram_min);
    w.push(settings.char_ngram_max);
    for f in [
        length_scale,
        thresholds.accept_below,
        thresholds.reject_at,
        bias,
    ] {
        w.extend_from_slice(&f.to_le_bytes());
    }
    w.extend_from_slice(&(vocabulary.len() as u32).to_le_bytes());
    for (token, weight) in vocabulary {
        put_str(&mut w, token);
        w.extend_from_slice(&weight.to_le_bytes());
    }
    w
}

fn put_str(w: &mut Vec<u8>, s: &str) {
    w.extend_from_slice(&(s.len() as u32).to_le_bytes());
    w.extend_from_slice(s.as_bytes());
}

/// A version derived from the model's content: the same weights always get the same name.
pub(super) fn content_version(parts: &Parts) -> String {
    let payload = encode_payload(
        "",
        parts.settings,
        parts.length_scale,
        parts.thresholds,
        parts.bias,
        parts.vocabulary.iter().map(|(t, w)| (t.as_str(), *w)),
    );
    let digest = Sha256::digest(&payload);
    format!("nb-{}", crate::hash::hex(&digest[..6]))
}

/// The checks every model passes, whether built by training or read from a file.
pub(super) fn validate_parts(parts: &Parts) -> Result<(), String> {
    let s = parts.settings;
    if s.char_ngram_min == 0 || s.char_ngram_min > s.char_ngram_max || s.char_ngram_max > MAX_NGRAM
    {
        return Err(format!(
            "char n-gram range {}..={} is not valid",
            s.char_ngram_min, s.char_ngram_max
        ));
    }
    if !(parts.length_scale.is_finite() && parts.length_scale >= 0.0) {
        return Err(format!(
            "length scale {} is not a finite, non-negative number",
            parts.length_scale
        ));
    }
    let t = parts.thresholds;
    if t.accept_below.is_nan() || t.reject_at.is_nan() || t.accept_below > t.reject_at {
        return Err(format!(
            "thresholds accept_below {} and reject_at {} are not ordered",
            t.accept_below, t.reject_at
        ));
    }
    if !parts.bias.is_finite() {
        return Err(format!("bias {} is not finite", parts.bias));
    }
    for (i, (token, weight)) in parts.vocabulary.iter().enumerate() {
        if !weight.is_finite() {
            return Err(format!("token {token:?} has a weight that is not finite"));
        }
        if i > 0 && parts.vocabulary[i - 1].0.as_str() >= token.as_str() {
            return Err(format!(
                "vocabulary is not sorted and unique at token {token:?}"
            ));
        }
    }
    Ok(())
}

pub(super) fn decode(bytes: &[u8], path: &Path) -> Result<Model, Error> {
    let invalid = |problem: String| Error::Invalid {
        path: path.to_path_buf(),
        problem,
    };
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        if bytes.len() >= 8 && &bytes[..8] == MAGIC {
            return Err(invalid(format!(
                "truncated: {} bytes, shorter than the header",
                bytes.len()
            )));
        }
        return Err(invalid(
            "not a saring model file (bad magic bytes)".to_string(),
        ));
    }
    let version = u32::from_le_bytes(
        bytes[8..12]
            .try_into()
            .map_err(|_| invalid("header".into()))?,
    );
    if version != FORMAT_VERSION {
        return Err(Error::WrongVersion {
            path: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let payload_len = u64::from_le_bytes(
        bytes[12..20]
            .try_into()
            .map_err(|_| invalid("header".into()))?,
    );
    let expected = (HEADER_LEN as u64)
        .checked_add(payload_len)
        .and_then(|n| n.checked_add(CHECKSUM_LEN as u64));
    match expected {
        Some(n) if n == bytes.len() as u64 => {}
        Some(n) if n > bytes.len() as u64 => {
            return Err(invalid(format!(
                "truncated: {} bytes, header says {n}",
                bytes.len()
            )))
        }
        _ => {
            return Err(invalid(format!(
                "{} bytes, header says {}: trailing data",
                bytes.len(),
                expected.map_or_else(|| "more than fits".to_string(), |n| n.to_string())
            )))
        }
    }
    let body_end = HEADER_LEN + payload_len as usize;
    if Sha256::digest(&bytes[..body_end]).as_slice() != &bytes[body_end..] {
        return Err(invalid(
            "checksum mismatch: the file is corrupted".to_string(),
        ));
    }

    let mut r = Reader {
        bytes: &bytes[HEADER_LEN..body_end],
    };
    let parts = read_payload(&mut r)
        .ok_or_else(|| invalid("payload ends early".to_string()))?
        .map_err(invalid)?;
    if !r.bytes.is_empty() {
        return Err(invalid(format!(
            "{} unread bytes after the vocabulary",
            r.bytes.len()
        )));
    }
    Model::from_parts(parts).map_err(invalid)
}

/// `None` when the payload runs out; `Some(Err)` for a readable but unacceptable field.
fn read_payload(r: &mut Reader<'_>) -> Option<Result<Parts, String>> {
    let version = r.string()?;
    let tokenizer_version = r.u32()?;
    if tokenizer_version != TOKENIZER_VERSION {
        return Some(Err(format!(
            "built with tokenizer version {tokenizer_version}, this saring tokenizes with version {TOKENIZER_VERSION}: retrain the model"
        )));
    }
    let settings = Settings {
        char_ngram_min: r.u8()?,
        char_ngram_max: r.u8()?,
    };
    let length_scale = r.f64()?;
    let thresholds = Thresholds {
        accept_below: r.f64()?,
        reject_at: r.f64()?,
    };
    let bias = r.f64()?;
    let n = r.u32()? as usize;
    // Each entry takes at least 12 bytes; refuse a count the payload cannot hold before allocating for it.
    if n > r.bytes.len() / 12 {
        return None;
    }
    let mut vocabulary = Vec::with_capacity(n);
    for _ in 0..n {
        let token = r.string()?;
        vocabulary.push((token, r.f64()?));
    }
    Some(Ok(Parts {
        version,
        settings,
        length_scale,
        thresholds,
        bias,
        vocabulary,
    }))
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)?.try_into().ok().map(u32::from_le_bytes)
    }
    fn f64(&mut self) -> Option<f64> {
        self.take(8)?.try_into().ok().map(f64::from_le_bytes)
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

/// Where the model card of the model file `model_path` lives: beside it, `NAME.card.json`.
pub fn card_path(model_path: &Path) -> PathBuf {
    model_path.with_extension("card.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Model {
        Model::from_parts(Parts {
            version: String::new(),
            settings: Settings::default(),
            length_scale: 3.0,
            thresholds: Thresholds {
                accept_below: -1.0,
                reject_at: 4.0,
            },
            bias: 0.4,
            vocabulary: vec![("w:gacor".into(), 7.0), ("w:hello".into(), -5.5)],
        })
        .unwrap()
    }

    fn p() -> &'static Path {
        Path::new("models/x.model")
    }

    #[test]
    fn round_trip_is_exact_and_versioned_by_content() {
        let m = tiny();
        assert!(m.version().starts_with("nb-"));
        let bytes = m.to_bytes();
        let back = decode(&bytes, p()).unwrap();
        assert_eq!(back.version(), m.version());
        assert_eq!(back.to_bytes(), bytes);
        assert_eq!(back.token_id("w:hello"), Some(1));
        assert_eq!(back.weights()[0], 7.0);
        assert_eq!(back.bias(), 0.4);
    }

    #[test]
    fn damaged_files_are_refused_with_the_reason() {
        let bytes = tiny().to_bytes();
        let msg = |b: &[u8]| decode(b, p()).unwrap_err().to_string();

        let m = msg(&bytes[..bytes.len() - 10]);
        assert!(
            m.contains("models/x.model") && m.contains("truncated"),
            "{m}"
        );
        assert!(msg(&bytes[..12]).contains("truncated"));

        let mut flipped = bytes.clone();
        flipped[30] ^= 1;
        assert!(msg(&flipped).contains("checksum"));

        let mut other = bytes.clone();
        other[8] = 9;
        assert!(matches!(
            decode(&other, p()),
            Err(Error::WrongVersion { found: 9, .. })
        ));

        assert!(msg(b"GIF89a, not a model at all").contains("magic"));

        let mut longer = bytes.clone();
        longer.push(0);
        assert!(msg(&longer).contains("trailing"));
    }

    #[test]
    fn unsorted_vocabularies_and_bad_weights_are_refused() {
        let mut parts = Parts {
            version: "v".into(),
            settings: Settings::default(),
            length_scale: 3.0,
            thresholds: Thresholds {
                accept_below: 0.0,
                reject_at: 1.0,
            },
            bias: 0.0,
            vocabulary: vec![("b".into(), -1.0), ("a".into(), -1.0)],
        };
        assert!(Model::from_parts(parts.clone())
            .unwrap_err()
            .contains("sorted"));
        parts.vocabulary = vec![("a".into(), f64::NAN)];
        assert!(Model::from_parts(parts.clone()).is_err());
        parts.vocabulary = vec![("a".into(), f64::INFINITY)];
        assert!(Model::from_parts(parts.clone()).is_err());
        parts.vocabulary.clear();
        parts.bias = f64::NAN;
        assert!(Model::from_parts(parts.clone()).is_err());
        parts.bias = 0.0;
        parts.vocabulary.clear();
        parts.thresholds.accept_below = 2.0;
        assert!(Model::from_parts(parts).unwrap_err().contains("ordered"));
    }
}
