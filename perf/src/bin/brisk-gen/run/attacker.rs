//! `brisk-gen run --attack`: the attack's sender beside the measured traffic.

use super::{Port, RunArgs};
use anyhow::bail;
use perf::attack::Attack;
use switch::dpdk::{MbufBatch, Mempool};

/// The attack beside the measured traffic (`--attack`): its frames go out of one of the
/// ports at the attack's own pace, counted apart.
pub(super) struct Attacker {
    pub(super) attack: Attack,
    /// TSC when its pacing started.
    t0: u64,
    /// TSC ticks per frame.
    ticks_per_frame: f64,
    /// Frames built since `t0` (the pace's count).
    built: u64,
    /// Frames sent, and frames the port's ring refused (dropped), in the measurement.
    pub(super) tx: u64,
    pub(super) tx_full: u64,
    /// Frames built in the measurement.
    pub(super) tx_offered: u64,
    pub(super) pending: MbufBatch,
}

impl Attacker {
    pub(super) fn new(a: &RunArgs, n_ports: usize, hz: u64) -> anyhow::Result<Option<Attacker>> {
        let (Some(arg), Some(spec)) = (&a.attack, &a.attack_spec) else {
            return Ok(None);
        };
        let attack = Attack::new(
            arg,
            spec,
            &pipeline::ofctl::PortMap::default(),
            a.attack_size,
        )?;
        if attack.port >= n_ports {
            bail!(
                "--attack {arg}: there is no port {} (give it with --port)",
                attack.port
            );
        }
        let ticks_per_frame = hz as f64 / attack.frames_per_second();
        eprintln!(
            "brisk-gen: attack {:?} from port {}: {:.0} frames/s of {} bytes{}",
            attack.kind,
            attack.port,
            attack.frames_per_second(),
            attack.frame_len() + 4,
            match attack.combinations() {
                0 => String::new(),
                c => format!(", {c} combinations"),
            }
        );
        Ok(Some(Attacker {
            attack,
            t0: 0,
            ticks_per_frame,
            built: 0,
            tx: 0,
            tx_full: 0,
            tx_offered: 0,
            pending: MbufBatch::new(),
        }))
    }

    /// Sends the attack frames due at `now` (at most 32 at a time) out of its port. Frames
    /// the port's ring does not take are retried until the next ones are due, then dropped,
    /// as a NIC's full receive ring drops them: the attack keeps its pace whatever the
    /// switch makes of it (a low-rate attack on a port the measured traffic keeps full
    /// still gets its frames in; a flood loses what the switch cannot take).
    pub(super) fn send(&mut self, ports: &mut [Port], pool: &Mempool, now: u64) {
        let port = &mut ports[self.attack.port].eth;
        if !self.pending.is_empty() {
            self.tx += port.tx_burst(0, &mut self.pending) as u64;
        }
        let n = self.due(now, 32);
        if n == 0 {
            return;
        }
        self.tx_full += self.pending.len() as u64;
        self.pending.free_all();
        if !self.pending.alloc_bulk(pool, n) {
            // No buffers: these frames are lost before the ring, as refused ones are.
            self.tx_full += n as u64;
            return;
        }
        let len = self.attack.frame_len() as u16;
        for k in 0..self.pending.len() {
            let m = self.pending.get_mut(k).expect("allocated");
            if let Some(d) = m.append(len) {
                self.attack.next_frame(d, now);
            }
        }
        self.tx += port.tx_burst(0, &mut self.pending) as u64;
    }

    /// For an attack mixed into a port's bursts: how many of its frames are due at `now`
    /// (at most `max`), counted as offered and sent (the burst is retried until sent).
    pub(super) fn take_due(&mut self, now: u64, max: usize) -> usize {
        let n = self.due(now, max);
        self.tx += n as u64;
        n
    }

    /// How many frames the pace has due at `now` (at most `max`), counted as built and
    /// offered.
    fn due(&mut self, now: u64, max: usize) -> usize {
        if self.t0 == 0 {
            self.t0 = now;
        }
        let due = ((now - self.t0) as f64 / self.ticks_per_frame) as u64;
        let n = due.saturating_sub(self.built).min(max as u64);
        self.built += n;
        self.tx_offered += n;
        n as usize
    }

    pub(super) fn start_measuring(&mut self) {
        self.tx = 0;
        self.tx_full = 0;
        self.tx_offered = 0;
    }
}
