//! RFC 6962 / RFC 9162 Merkle tree maths over manifest lines. Pure functions, no I/O.
//!
//! Leaf hash: SHA-256(0x00 || line bytes) (RFC 9162 section 2.1.1); interior node:
//! SHA-256(0x01 || left || right). The tree over n leaves splits at k, the largest power of two
//! smaller than n (RFC 9162 section 2.1.1).

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// SHA-256(0x00 || entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Largest power of two strictly smaller than n (n >= 2).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH over leaf hashes (RFC 9162 2.1.1); the empty tree's hash is SHA-256 of nothing.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// Inclusion proof PATH(m, D[n]) for leaf `index` (RFC 9162 2.1.3.1).
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    if index >= leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    path(leaves, index, &mut proof);
    Some(proof)
}

fn path(leaves: &[Hash], m: usize, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(&leaves[..k], m, out);
        out.push(root(&leaves[k..]));
    } else {
        path(&leaves[k..], m - k, out);
        out.push(root(&leaves[..k]));
    }
}

/// Verifies an inclusion proof (RFC 9162 2.1.3.2). Length-checked: a proof that is too long
/// or too short fails.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    expected_root: &Hash,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *expected_root
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hex;

    // Known-answer vectors from the Certificate Transparency reference implementation
    // (certificate-transparency, merkle_tree_test), as used by RFC 6962 implementations.
    const LEAVES: [&[u8]; 8] = [
        b"",
        b"\x00",
        b"\x10",
        b"\x20\x21",
        b"\x30\x31",
        b"\x40\x41\x42\x43",
        b"\x50\x51\x52\x53\x54\x55\x56\x57",
        b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
    ];
    const ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn leaves() -> Vec<Hash> {
        LEAVES.iter().map(|l| leaf_hash(l)).collect()
    }

    #[test]
    fn reference_roots() {
        assert_eq!(
            hex(&root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let l = leaves();
        for n in 1..=8 {
            assert_eq!(hex(&root(&l[..n])), ROOTS[n - 1], "size {n}");
        }
    }

    #[test]
    fn reference_inclusion_proofs() {
        let l = leaves();
        let cases: [(usize, usize, &[&str]); 5] = [
            (0, 1, &[]),
            (
                0,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (index, size, expected) in cases {
            let proof = inclusion_proof(&l[..size], index).unwrap();
            let got: Vec<String> = proof.iter().map(|h| hex(h)).collect();
            assert_eq!(got, expected, "leaf {index} of {size}");
            let r = root(&l[..size]);
            assert!(verify_inclusion(
                &l[index],
                index as u64,
                size as u64,
                &proof,
                &r
            ));
        }
    }

    #[test]
    fn every_proof_verifies_and_tampering_fails() {
        let l: Vec<Hash> = (0..37u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for size in 1..=l.len() {
            let r = root(&l[..size]);
            for i in 0..size {
                let p = inclusion_proof(&l[..size], i).unwrap();
                assert!(verify_inclusion(&l[i], i as u64, size as u64, &p, &r));
                // Wrong index, index past the end, extra or missing hash, flipped bit: all fail.
                if size > 1 {
                    assert!(!verify_inclusion(
                        &l[i],
                        ((i + 1) % size) as u64,
                        size as u64,
                        &p,
                        &r
                    ));
                }
                assert!(!verify_inclusion(&l[i], size as u64, size as u64, &p, &r));
                let mut longer = p.clone();
                longer.push([0; 32]);
                assert!(!verify_inclusion(&l[i], i as u64, size as u64, &longer, &r));
                if let Some(first) = p.first() {
                    let mut bad = p.clone();
                    bad[0] = {
                        let mut x = *first;
                        x[7] ^= 1;
                        x
                    };
                    assert!(!verify_inclusion(&l[i], i as u64, size as u64, &bad, &r));
                    assert!(!verify_inclusion(&l[i], i as u64, size as u64, &p[1..], &r));
                }
            }
        }
    }
}

/// The right edge of a growing tree: the roots of its perfect subtrees, left (largest) to
/// right. Appending is O(log n) and the root of everything so far is always at hand.
#[derive(Debug, Default, Clone)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

impl Frontier {
    pub fn push(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut s = self.size;
        while s & 1 == 1 {
            if let Some(left) = self.nodes.pop() {
                h = node_hash(&left, &h);
            }
            s >>= 1;
        }
        self.nodes.push(h);
        self.size += 1;
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// MTH of all leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut it = self.nodes.iter().rev();
        match it.next() {
            None => Sha256::digest([]).into(),
            Some(last) => it.fold(*last, |r, left| node_hash(left, &r)),
        }
    }
}

#[cfg(test)]
mod frontier_tests {
    use super::*;

    #[test]
    fn frontier_root_equals_recursive_root() {
        let leaves: Vec<Hash> = (0..100u32).map(|i| leaf_hash(&i.to_le_bytes())).collect();
        let mut f = Frontier::default();
        assert_eq!(f.root(), root(&[]));
        for (i, l) in leaves.iter().enumerate() {
            f.push(*l);
            assert_eq!(f.root(), root(&leaves[..=i]), "size {}", i + 1);
        }
    }
}
