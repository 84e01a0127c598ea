//! A small deterministic random source (xoshiro256**, seeded by SplitMix64) and smooth
//! 3D gradient noise. Our own, so a seed gives the same case on every platform and with
//! every dependency version.

#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        let mut x = seed;
        Rng { s: [splitmix(&mut x), splitmix(&mut x), splitmix(&mut x), splitmix(&mut x)] }
    }

    /// An independent stream for a sub-task (e.g. one lesion), from this one's seed.
    pub fn fork(&mut self, salt: u64) -> Rng {
        Rng::new(self.next_u64() ^ salt.wrapping_mul(0x2545_F491_4F6C_DD1D))
    }

    pub fn next_u64(&mut self) -> u64 {
        let r = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        r
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    pub fn below(&mut self, n: usize) -> usize {
        ((self.f64() * n as f64) as usize).min(n.saturating_sub(1))
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.f64().max(1e-300);
        let v = self.f64();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// A random unit vector.
    pub fn unit(&mut self) -> [f64; 3] {
        loop {
            let v = [self.normal(), self.normal(), self.normal()];
            let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            if n > 1e-6 {
                return [v[0] / n, v[1] / n, v[2] / n];
            }
        }
    }
}

/// Smooth gradient noise in about [-1, 1] with features about `1 / frequency` mm apart.
#[derive(Debug, Clone, Copy)]
pub struct Noise {
    seed: u64,
    frequency: f64,
}

impl Noise {
    pub fn new(seed: u64, frequency: f64) -> Self {
        Noise { seed, frequency }
    }

    fn grad(&self, x: i64, y: i64, z: i64) -> [f64; 3] {
        let mut h = self.seed
            ^ (x as u64).wrapping_mul(0x8CB9_2BA7_2F3D_8DD7)
            ^ (y as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (z as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
        let a = splitmix(&mut h);
        let b = splitmix(&mut h);
        let th = (a >> 11) as f64 / (1u64 << 53) as f64 * std::f64::consts::TAU;
        let cz = (b >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
        let r = (1.0 - cz * cz).sqrt();
        [r * th.cos(), r * th.sin(), cz]
    }

    pub fn at(&self, p: [f64; 3]) -> f64 {
        let q = [p[0] * self.frequency, p[1] * self.frequency, p[2] * self.frequency];
        let f = [q[0].floor(), q[1].floor(), q[2].floor()];
        let t = [q[0] - f[0], q[1] - f[1], q[2] - f[2]];
        let fade = |t: f64| t * t * t * (t * (t * 6.0 - 15.0) + 10.0);
        let s = [fade(t[0]), fade(t[1]), fade(t[2])];
        let mut acc = 0.0;
        for c in 0..8 {
            let (dx, dy, dz) = (c & 1, (c >> 1) & 1, (c >> 2) & 1);
            let g = self.grad(f[0] as i64 + dx, f[1] as i64 + dy, f[2] as i64 + dz);
            let d = [t[0] - dx as f64, t[1] - dy as f64, t[2] - dz as f64];
            let w = (if dx == 1 { s[0] } else { 1.0 - s[0] })
                * (if dy == 1 { s[1] } else { 1.0 - s[1] })
                * (if dz == 1 { s[2] } else { 1.0 - s[2] });
            acc += w * (g[0] * d[0] + g[1] * d[1] + g[2] * d[2]);
        }
        acc * 1.8
    }
}
