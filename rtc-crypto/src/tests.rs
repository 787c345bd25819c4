//! Known answers from the algorithms' standards, and a DTLS handshake between two instances.

use str0m::crypto::dtls::{DtlsOutput, DtlsVersion};

use super::provider;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn hashes_and_hmac_give_the_standard_answers() {
    let p = provider();
    assert_eq!(
        p.sha1_provider.sha1(b"abc").to_vec(),
        hex("a9993e364706816aba3e25717850c26c9cd0d89d")
    );
    assert_eq!(
        p.sha256_provider.sha256(b"abc").to_vec(),
        hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    // RFC 2202 test case 1, the message given in two parts.
    assert_eq!(
        p.sha1_hmac_provider
            .sha1_hmac(&[0x0b; 20], &[b"Hi ", b"There"])
            .to_vec(),
        hex("b617318655057264e28bc0b6fb378c8ef146be00")
    );
}

#[test]
fn aes_counter_mode_gives_the_srtp_keystream() {
    // RFC 3711 B.2: the keystream for this session key and IV.
    let key: [u8; 16] = hex("2b7e151628aed2a6abf7158809cf4f3c").try_into().unwrap();
    let iv: [u8; 16] = hex("f0f1f2f3f4f5f6f7f8f9fafbfcfd0000").try_into().unwrap();
    let mut cipher = provider()
        .srtp_provider
        .aes_128_cm_sha1_80()
        .create_cipher(key, true);
    let mut out = [0u8; 32];
    cipher.encrypt(&iv, &[0; 32], &mut out).unwrap();
    assert_eq!(
        out.to_vec(),
        hex("e03ead0935c95e80e166b16dd92b4eb4d23513162b02d0f72a43a2fe4a5f97ab")
    );
    let mut back = [0u8; 32];
    cipher.decrypt(&iv, &out, &mut back).unwrap();
    assert_eq!(back, [0; 32]);
    // A short output buffer is an error, not a panic.
    assert!(cipher.encrypt(&iv, &[0; 32], &mut [0; 8]).is_err());
}

#[test]
fn aes_gcm_seals_and_refuses_a_changed_packet() {
    // The GCM specification's test case 2: zero key, zero nonce, one zero block.
    let srtp = provider().srtp_provider;
    let mut cipher = srtp.aead_aes_128_gcm().create_cipher([0; 16], true);
    let mut sealed = [0u8; 32];
    cipher
        .encrypt(&[0; 12], &[], &[0; 16], &mut sealed)
        .unwrap();
    assert_eq!(
        sealed.to_vec(),
        hex("0388dace60b6a392f328c2b971b2fe78ab6e47d42cec13bdf53a67b21257bddf")
    );
    let mut plain = [0u8; 32];
    assert_eq!(
        cipher
            .decrypt(&[0; 12], &[&[]], &sealed, &mut plain)
            .unwrap(),
        16
    );
    assert_eq!(plain[..16], [0; 16]);
    sealed[3] ^= 1;
    assert!(
        cipher
            .decrypt(&[0; 12], &[&[]], &sealed, &mut plain)
            .is_err()
    );
    // AES-256-GCM, test case 14: the same with a 256-bit zero key.
    let mut cipher = srtp.aead_aes_256_gcm().create_cipher([0; 32], true);
    let aad: &[u8] = b"twelve bytes";
    cipher
        .encrypt(&[0; 12], aad, &[0; 16], &mut sealed)
        .unwrap();
    assert_eq!(
        sealed[..16].to_vec(),
        hex("cea7403d4d606b6e074ec5d3baf39d18")
    );
    assert_eq!(
        cipher
            .decrypt(&[0; 12], &[&aad[..5], &aad[5..]], &sealed, &mut plain)
            .unwrap(),
        16
    );
    assert_eq!(plain[..16], [0; 16]);
}

#[test]
fn the_key_derivation_round_is_aes_ecb_with_a_padding_block() {
    // FIPS-197 C.1 (AES-128) and C.3 (AES-256).
    let srtp = provider().srtp_provider;
    let input = hex("00112233445566778899aabbccddeeff");
    let mut out = [0u8; 32];
    srtp.srtp_aes_128_ecb_round(&hex("000102030405060708090a0b0c0d0e0f"), &input, &mut out);
    assert_eq!(out[..16].to_vec(), hex("69c4e0d86a7b0430d8cdb78070b4c55a"));
    assert_ne!(out[16..], [0; 16]);
    let key256 = hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
    srtp.srtp_aes_256_ecb_round(&key256, &input, &mut out);
    assert_eq!(out[..16].to_vec(), hex("8ea2b7ca516745bfeafc49904b496089"));
}

/// Passes each side's datagrams to the other until both have SRTP keys (or 200 rounds).
#[test]
fn two_instances_complete_a_dtls_handshake_and_agree_on_srtp_keys() {
    let dtls = provider().dtls_provider;
    let now = std::time::Instant::now();
    let (client_cert, server_cert) = (
        dtls.generate_certificate().expect("certificate"),
        dtls.generate_certificate().expect("certificate"),
    );
    for version in [DtlsVersion::Dtls12, DtlsVersion::Auto] {
        let mut client = dtls
            .new_dtls(&client_cert, now, version, None)
            .expect("client");
        let mut server = dtls
            .new_dtls(&server_cert, now, version, None)
            .expect("server");
        client.set_active(true);
        server.set_active(false);
        // As str0m does: both sides get a first timeout before any packet.
        client.handle_timeout(now).expect("start");
        server.handle_timeout(now).expect("start");
        let mut keys: [Option<Vec<u8>>; 2] = [None, None];
        let mut buf = vec![0u8; 2048];
        for _ in 0..200 {
            for (side, key) in keys.iter_mut().enumerate() {
                let (from, to) = if side == 0 {
                    (&mut client, &mut server)
                } else {
                    (&mut server, &mut client)
                };
                loop {
                    match from.poll_output(&mut buf) {
                        DtlsOutput::Packet(p) => {
                            let p = p.to_vec();
                            to.handle_packet(&p).expect("handshake packet");
                        }
                        DtlsOutput::KeyingMaterial(k, _profile) => *key = Some(k.to_vec()),
                        DtlsOutput::Timeout(_) => break,
                        _ => {}
                    }
                }
            }
            if keys.iter().all(Option::is_some) {
                break;
            }
        }
        assert!(keys[0].is_some(), "{version}: the client has no keys");
        assert_eq!(
            keys[0], keys[1],
            "{version}: both ends derive the same keys"
        );
    }
}

#[test]
fn certificates_are_fresh_p256_keys_whose_lengths_add_up() {
    let (a, b) = (
        super::dtls::certificate().unwrap(),
        super::dtls::certificate().unwrap(),
    );
    assert_ne!(a.private_key, b.private_key);
    for cert in [&a, &b] {
        // The outer SEQUENCE's long-form length covers exactly the rest.
        let c = &cert.certificate;
        assert_eq!(c[0], 0x30);
        let len = match c[1] {
            0x81 => (usize::from(c[2]), 3),
            0x82 => (usize::from(c[2]) << 8 | usize::from(c[3]), 4),
            n => (usize::from(n), 2),
        };
        assert_eq!(len.0 + len.1, c.len());
        // PKCS#8 for P-256 with its public key is 138 bytes.
        assert_eq!(cert.private_key.len(), 138);
        assert!(c.windows(6).any(|w| w == b"WebRTC"));
    }
}
