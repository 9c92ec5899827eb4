//! IP fragment reassembly (IPv4 and IPv6) with caps on pending datagrams and their size.

use crate::base::{SeededMap, Timestamp, Weird};
use std::net::IpAddr;

/// Datagrams being reassembled at once; beyond this the oldest is dropped (anomaly).
pub const MAX_PENDING: usize = 1024;
/// Largest reassembled datagram (IP's own limit).
pub const MAX_DATAGRAM: usize = 65_535;
/// Fragments older than this (capture time) are dropped.
pub const TIMEOUT_NS: i64 = 30_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DefragKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub id: u32,
    pub proto: u8,
}

struct Pending {
    first_ts: Timestamp,
    data: Vec<u8>,
    /// Received byte ranges, sorted, merged.
    have: Vec<(usize, usize)>,
    total: Option<usize>,
}

#[derive(Default)]
pub struct Defragmenter {
    pending: SeededMap<DefragKey, Pending>,
    weirds: Vec<Weird>,
}

impl Defragmenter {
    #[inline]
    pub fn has_weirds(&self) -> bool {
        !self.weirds.is_empty()
    }

    pub fn weirds(&mut self) -> Vec<Weird> {
        std::mem::take(&mut self.weirds)
    }

    /// Adds a fragment; returns the whole datagram's payload once complete.
    pub fn add(
        &mut self,
        ts: Timestamp,
        key: DefragKey,
        offset: usize,
        more: bool,
        payload: &[u8],
    ) -> Option<Vec<u8>> {
        let end = offset.saturating_add(payload.len());
        if end > MAX_DATAGRAM {
            self.weirds.push(Weird::new(
                ts,
                "ip-fragment-too-large",
                format!("fragment ends at byte {end}, beyond {MAX_DATAGRAM}"),
            ));
            self.pending.remove(&key);
            return None;
        }
        if !self.pending.contains_key(&key) && self.pending.len() >= MAX_PENDING {
            // Drop the oldest pending datagram.
            if let Some(old) = self
                .pending
                .iter()
                .min_by_key(|(k, p)| (p.first_ts, format!("{k:?}")))
                .map(|(k, _)| *k)
            {
                self.pending.remove(&old);
            }
            self.weirds.push(Weird::new(
                ts,
                "ip-fragment-cap",
                format!("more than {MAX_PENDING} datagrams pending reassembly; oldest dropped"),
            ));
        }
        let p = self.pending.entry(key).or_insert_with(|| Pending {
            first_ts: ts,
            data: Vec::new(),
            have: Vec::new(),
            total: None,
        });
        if p.data.len() < end {
            p.data.resize(end, 0);
        }
        p.data[offset..end].copy_from_slice(payload);
        if !more {
            p.total = Some(end);
        }
        insert_range(&mut p.have, offset, end);
        let complete = match (p.total, p.have.as_slice()) {
            (Some(t), [(0, e)]) => *e >= t,
            _ => false,
        };
        if complete {
            let mut p = self.pending.remove(&key)?;
            let total = p.total.unwrap_or(p.data.len());
            p.data.truncate(total);
            Some(p.data)
        } else {
            None
        }
    }

    pub fn expire(&mut self, now: Timestamp) {
        let before = self.pending.len();
        self.pending
            .retain(|_, p| now.0.saturating_sub(p.first_ts.0) < TIMEOUT_NS);
        let dropped = before - self.pending.len();
        if dropped > 0 {
            self.weirds.push(Weird::new(
                now,
                "ip-fragment-timeout",
                format!("{dropped} incomplete fragmented datagram(s) expired"),
            ));
        }
    }
}

fn insert_range(have: &mut Vec<(usize, usize)>, start: usize, end: usize) {
    if start >= end {
        return;
    }
    have.push((start, end));
    have.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(have.len());
    for &(s, e) in have.iter() {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    *have = merged;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> DefragKey {
        DefragKey {
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            id: 7,
            proto: 17,
        }
    }

    #[test]
    fn reassembles_out_of_order() {
        let mut d = Defragmenter::default();
        assert!(d.add(Timestamp(0), key(), 8, false, b"world!!!").is_none());
        let out = d
            .add(Timestamp(1), key(), 0, true, b"hello, w")
            .unwrap_or_default();
        assert_eq!(out.len(), 16);
        assert_eq!(&out[..8], b"hello, w");
        assert_eq!(&out[8..], b"world!!!");
    }

    #[test]
    fn incomplete_expires() {
        let mut d = Defragmenter::default();
        assert!(d.add(Timestamp(0), key(), 0, true, b"abcdefgh").is_none());
        d.expire(Timestamp(TIMEOUT_NS + 1));
        assert_eq!(d.weirds().len(), 1);
        assert!(
            d.add(Timestamp(TIMEOUT_NS + 2), key(), 8, false, b"x")
                .is_none()
        );
    }
}
