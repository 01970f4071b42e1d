//! RFC 6962 / RFC 9162 Merkle tree maths over manifest lines: tree hashes, inclusion and
//! consistency proofs and their verification. Pure functions, no I/O: proofs ask a
//! [`Subtrees`] for the hashes they need (in-memory leaves, or the stored tiles).
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

/// Where a proof finds the hash of a range of leaves, MTH(D[lo:hi]). Proofs only ask for
/// ranges that are subtrees of the RFC 9162 tree (mostly perfect, aligned ones), so a store of
/// perfect-subtree hashes (the tiles) answers each from one read.
pub trait Subtrees {
    type Error;
    /// MTH(D[lo:hi]), `lo < hi`.
    fn subtree(&self, lo: u64, hi: u64) -> Result<Hash, Self::Error>;
}

impl Subtrees for [Hash] {
    type Error = std::convert::Infallible;
    fn subtree(&self, lo: u64, hi: u64) -> Result<Hash, Self::Error> {
        Ok(root(&self[lo as usize..hi as usize]))
    }
}

/// Largest power of two strictly smaller than n (n >= 2).
fn split64(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The inclusion proof PATH(m, D[size]) for leaf `index` (RFC 9162 2.1.3.1), leaf to root;
/// `None` when `index >= size`.
pub fn prove_inclusion<S: Subtrees + ?Sized>(
    s: &S,
    index: u64,
    size: u64,
) -> Result<Option<Vec<Hash>>, S::Error> {
    if index >= size {
        return Ok(None);
    }
    // PATH walks down from the root; the siblings come out root first.
    let (mut lo, mut hi) = (0u64, size);
    let mut siblings = Vec::new();
    while hi - lo > 1 {
        let k = split64(hi - lo);
        if index < lo + k {
            siblings.push(s.subtree(lo + k, hi)?);
            hi = lo + k;
        } else {
            siblings.push(s.subtree(lo, lo + k)?);
            lo += k;
        }
    }
    siblings.reverse();
    Ok(Some(siblings))
}

/// The consistency proof PROOF(m, D[n]) from the tree of `m` leaves to the tree of `n`
/// (RFC 9162 2.1.4.1: SUBPROOF with b = true); empty when `m == n`, `None` when `m == 0` or
/// `m > n`.
pub fn prove_consistency<S: Subtrees + ?Sized>(
    s: &S,
    m: u64,
    n: u64,
) -> Result<Option<Vec<Hash>>, S::Error> {
    if m == 0 || m > n {
        return Ok(None);
    }
    let mut out = Vec::new();
    subproof(s, m, 0, n, true, &mut out)?;
    Ok(Some(out))
}

/// SUBPROOF(m, D[lo:hi], b), appended in proof order.
fn subproof<S: Subtrees + ?Sized>(
    s: &S,
    m: u64,
    lo: u64,
    hi: u64,
    b: bool,
    out: &mut Vec<Hash>,
) -> Result<(), S::Error> {
    let n = hi - lo;
    if m == n {
        if !b {
            out.push(s.subtree(lo, hi)?);
        }
        return Ok(());
    }
    let k = split64(n);
    if m <= k {
        subproof(s, m, lo, lo + k, b, out)?;
        out.push(s.subtree(lo + k, hi)?);
    } else {
        subproof(s, m - k, lo + k, hi, false, out)?;
        out.push(s.subtree(lo, lo + k)?);
    }
    Ok(())
}

/// Verifies a consistency proof from the tree of `first` leaves with root `first_root` to the
/// tree of `second` leaves with root `second_root` (RFC 9162 2.1.4.2). Length-checked.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> bool {
    if first == 0 || first > second {
        return false;
    }
    if first == second {
        return proof.is_empty() && first_root == second_root;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let Some((start, rest)) = path.split_first() else {
        return false;
    };
    let (mut fnode, mut snode) = (first - 1, second - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*start, *start);
    for c in rest {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    fr == *first_root && sr == *second_root && snode == 0
}

/// The inclusion proof of leaf `index` among in-memory leaves.
pub fn inclusion_proof(leaves: &[Hash], index: usize) -> Option<Vec<Hash>> {
    match prove_inclusion(leaves, index as u64, leaves.len() as u64) {
        Ok(p) => p,
        Err(never) => match never {},
    }
}

/// The consistency proof between prefixes of in-memory leaves.
pub fn consistency_proof(leaves: &[Hash], m: u64) -> Option<Vec<Hash>> {
    match prove_consistency(leaves, m, leaves.len() as u64) {
        Ok(p) => p,
        Err(never) => match never {},
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

    /// Consistency proofs of the CT reference implementation's 8-leaf tree
    /// (certificate-transparency, merkle_tree_test: kProofs), as RFC 9162 implementations use.
    #[test]
    fn reference_consistency_proofs() {
        let l = leaves();
        let cases: [(u64, u64, &[&str]); 4] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
        ];
        for (m, n, expected) in cases {
            let proof = consistency_proof(&l[..n as usize], m).unwrap();
            let got: Vec<String> = proof.iter().map(|h| hex(h)).collect();
            assert_eq!(got, expected, "consistency {m} -> {n}");
            let (r1, r2) = (root(&l[..m as usize]), root(&l[..n as usize]));
            assert!(verify_consistency(m, n, &r1, &r2, &proof));
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_tampering_fails() {
        let l: Vec<Hash> = (0..40u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let other = leaf_hash(b"other");
        for n in 1..=l.len() as u64 {
            let rn = root(&l[..n as usize]);
            for m in 1..=n {
                let rm = root(&l[..m as usize]);
                let p = consistency_proof(&l[..n as usize], m).unwrap();
                assert!(verify_consistency(m, n, &rm, &rn, &p), "{m} -> {n}");
                // Another old root, another new root, a longer or shorter proof: all fail.
                assert!(!verify_consistency(m, n, &other, &rn, &p), "{m} -> {n}");
                if m < n {
                    assert!(!verify_consistency(m, n, &rm, &other, &p), "{m} -> {n}");
                    let mut longer = p.clone();
                    longer.push([0; 32]);
                    assert!(!verify_consistency(m, n, &rm, &rn, &longer));
                    if !p.is_empty() {
                        assert!(!verify_consistency(m, n, &rm, &rn, &p[1..]));
                        let mut bad = p.clone();
                        bad[0][3] ^= 1;
                        assert!(!verify_consistency(m, n, &rm, &rn, &bad));
                    }
                }
            }
        }
        assert!(!verify_consistency(0, 3, &[0; 32], &root(&l[..3]), &[]));
        assert!(!verify_consistency(
            4,
            3,
            &root(&l[..4]),
            &root(&l[..3]),
            &[]
        ));
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
    /// The right edge of a tree of `size` leaves from the roots of its perfect subtrees,
    /// largest first (as many as `size` has one bits).
    pub fn from_parts(size: u64, nodes: Vec<Hash>) -> Frontier {
        debug_assert_eq!(nodes.len() as u32, size.count_ones());
        Frontier { size, nodes }
    }

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
