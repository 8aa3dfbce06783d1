//! Ed25519 keys (RFC 8032): secret keys that never show themselves, public keys checked
//! once, and the PEM encodings (PKCS#8, SubjectPublicKeyInfo) that `openssl` also reads.

use std::fmt;

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use crate::types::{PublicKey, SignatureBytes};

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The PEM text is not an Ed25519 secret key in PKCS#8.
    #[error("not an Ed25519 private key in PKCS#8 PEM (\"-----BEGIN PRIVATE KEY-----\"): {0}")]
    SecretPem(String),
    /// The PEM text is not an Ed25519 public key.
    #[error(
        "not an Ed25519 public key in SubjectPublicKeyInfo PEM (\"-----BEGIN PUBLIC KEY-----\"): {0}"
    )]
    PublicPem(String),
    /// 32 bytes that are not a point on the curve.
    #[error("public key {0} is not a valid Ed25519 point")]
    NotAPoint(PublicKey),
    /// 32 bytes that decode to a point, but are not that point's canonical encoding.
    #[error("public key {0} is not in canonical form (its y coordinate is not reduced)")]
    NotCanonical(PublicKey),
    /// A point of small order, for which any signature can be forged.
    #[error("public key {0} is weak (of small order) and is never accepted")]
    Weak(PublicKey),
}

/// An Ed25519 secret key. It is never printed: `Debug` shows only the public half, and
/// the bytes are wiped from memory when it is dropped.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// The key whose RFC 8032 seed is `seed` (32 bytes from a CSPRNG for a new key).
    pub fn from_seed(seed: &[u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(seed))
    }

    /// Reads a PKCS#8 PEM secret key, as `depositary keygen` and
    /// `openssl genpkey -algorithm ed25519` write it.
    pub fn from_pkcs8_pem(pem: &str) -> Result<SecretKey, KeyError> {
        if pem.trim().is_empty() {
            return Err(KeyError::SecretPem("the file is empty".into()));
        }
        let key =
            SigningKey::from_pkcs8_pem(pem).map_err(|e| KeyError::SecretPem(e.to_string()))?;
        let secret = SecretKey(key);
        check_public(secret.public())?;
        Ok(secret)
    }

    /// The PKCS#8 PEM text of the key, in memory that is wiped when dropped.
    ///
    /// It is written as PKCS#8 version 1 (RFC 5208: the seed, without the public key),
    /// which every OpenSSL 3 reads; version 2 files (RFC 5958) are read too.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        let bytes = ed25519_dalek::pkcs8::KeypairBytes {
            secret_key: self.0.to_bytes(),
            public_key: None,
        };
        bytes
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| KeyError::SecretPem(e.to_string()))
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey::from_bytes(self.0.verifying_key().to_bytes())
    }

    /// Signs `message` (RFC 8032 Ed25519, deterministic).
    pub fn sign(&self, message: &[u8]) -> SignatureBytes {
        SignatureBytes::from_bytes(self.0.sign(message).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(public {})", self.public())
    }
}

impl PublicKey {
    /// Reads a SubjectPublicKeyInfo PEM public key (`.pub.pem`).
    pub fn from_spki_pem(pem: &str) -> Result<PublicKey, KeyError> {
        if pem.trim().is_empty() {
            return Err(KeyError::PublicPem("the file is empty".into()));
        }
        let key = VerifyingKey::from_public_key_pem(pem)
            .map_err(|e| KeyError::PublicPem(e.to_string()))?;
        let public = PublicKey::from_bytes(key.to_bytes());
        check_public(public)?;
        Ok(public)
    }

    /// The SubjectPublicKeyInfo PEM text of the key.
    pub fn to_spki_pem(&self) -> Result<String, KeyError> {
        let key = check_public(*self)?;
        key.to_public_key_pem(LineEnding::LF)
            .map_err(|e| KeyError::PublicPem(e.to_string()))
    }
}

/// Decodes a public key and refuses it unless it is a point of large order.
pub fn check_public(key: PublicKey) -> Result<VerifyingKey, KeyError> {
    let vk = VerifyingKey::from_bytes(key.as_bytes()).map_err(|_| KeyError::NotAPoint(key))?;
    // Decoding reduces a y coordinate beyond the field; the canonical encoding is the
    // point's own compression.
    if vk.to_edwards().compress().to_bytes() != *key.as_bytes() {
        return Err(KeyError::NotCanonical(key));
    }
    if vk.is_weak() {
        return Err(KeyError::Weak(key));
    }
    Ok(vk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_and_debug_hides_the_secret() {
        let key = SecretKey::from_seed(&[7; 32]);
        let pem = key.to_pkcs8_pem().expect("pem");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = SecretKey::from_pkcs8_pem(&pem).expect("parse");
        assert_eq!(again.public(), key.public());
        let public_pem = key.public().to_spki_pem().expect("pub pem");
        assert_eq!(PublicKey::from_spki_pem(&public_pem), Ok(key.public()));
        let shown = format!("{key:?}");
        assert!(shown.contains(&key.public().to_hex()));
        assert!(!shown.contains(&crate::hex::encode(&[7; 32])));
        assert!(!shown.contains("0707"));
    }

    #[test]
    fn a_non_canonical_public_key_is_refused() {
        // y = 2^255 - 1 reduces to 18: a point, but not its canonical encoding.
        let mut bytes = [0xff; 32];
        bytes[31] = 0x7f;
        let key = PublicKey::from_bytes(bytes);
        assert!(matches!(
            check_public(key),
            Err(KeyError::NotCanonical(_) | KeyError::NotAPoint(_))
        ));
        let ffs = PublicKey::from_bytes([0xff; 32]);
        assert!(check_public(ffs).is_err());
    }

    #[test]
    fn wrong_pem_is_refused_clearly() {
        assert!(matches!(
            SecretKey::from_pkcs8_pem(
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
            ),
            Err(KeyError::SecretPem(_))
        ));
        let identity = PublicKey::from_bytes({
            let mut b = [0u8; 32];
            b[0] = 1;
            b
        });
        assert_eq!(
            check_public(identity).map(|_| ()),
            Err(KeyError::Weak(identity))
        );
    }
}
