//! The built-in generator ("built-in, not AI").
//!
//! Why it exists: the product has to produce a pleasant picture with no model
//! configured (and tests need real pictures without a network). Every choice
//! comes from a SHA-256 of (prompt, seed, style), so the same inputs always
//! give the same pixels, and a few prompt words steer the palette and scene.
//!
//! Why it is written this way: the cost is O(pixels × small constant). Per
//! pixel there are only adds, multiplies, the odd square root and table
//! look-ups; each sine is taken once per row, column or shape, from a local
//! polynomial rather than the platform's libm, so the bytes do not change
//! between machines.

use sha2::{Digest, Sha256};

/// Largest side the generator draws; larger requests are clamped.
pub(crate) const MAX_SIDE: u32 = 2048;

/// Bumped when the picture for given inputs changes on purpose.
const VERSION_TAG: &[u8] = b"uni1-builtin-v1";

/// A style preset. Unknown names mean no preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Vivid,
    Pastel,
    Mono,
    Noir,
}

impl Style {
    pub(crate) fn parse(style: Option<&str>) -> Option<Style> {
        match style?.trim().to_ascii_lowercase().as_str() {
            "vivid" => Some(Style::Vivid),
            "pastel" => Some(Style::Pastel),
            "mono" => Some(Style::Mono),
            "noir" => Some(Style::Noir),
            _ => None,
        }
    }

    fn tag(style: Option<Style>) -> u8 {
        match style {
            None => 0,
            Some(Style::Vivid) => 1,
            Some(Style::Pastel) => 2,
            Some(Style::Mono) => 3,
            Some(Style::Noir) => 4,
        }
    }
}

/// Renders the picture as tightly packed RGB8 rows; returns (width, height,
/// pixels) with the sides clamped to 1..=MAX_SIDE.
pub(crate) fn render_rgb(
    prompt: &str,
    seed: u64,
    width: u32,
    height: u32,
    style: Option<&str>,
) -> (u32, u32, Vec<u8>) {
    let width = width.clamp(1, MAX_SIDE);
    let height = height.clamp(1, MAX_SIDE);
    let style = Style::parse(style);
    let digest = digest(prompt, seed, style);
    let mut rng = Rng::from_digest(&digest);
    let mut theme = Theme::from_prompt(prompt);
    if style == Some(Style::Pastel) {
        // Pastel means light: no night skies (space stays space if asked for).
        theme.dark = false;
    }

    let mut canvas = Canvas::new(width as usize, height as usize);
    let palette = Palette::new(&mut rng, &theme, style);
    let scene = match pick_scene(&mut rng, &theme) {
        Scene::Cosmic if style == Some(Style::Pastel) && !theme.cosmic => Scene::Abstract,
        scene => scene,
    };
    match scene {
        Scene::Abstract => paint_abstract(&mut canvas, &mut rng, &palette, &theme),
        Scene::Landscape(ground) => {
            paint_landscape(&mut canvas, &mut rng, &palette, &theme, ground)
        }
        Scene::Cosmic => paint_cosmic(&mut canvas, &mut rng, &palette),
    }
    let finish = Finish::new(&mut rng, &palette, style, &digest);
    let pixels = finish.apply(&canvas);
    (width, height, pixels)
}

fn digest(prompt: &str, seed: u64, style: Option<Style>) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(VERSION_TAG);
    // Length-prefixed so that no two (prompt, seed, style) share an input.
    h.update((prompt.len() as u64).to_le_bytes());
    h.update(prompt.as_bytes());
    h.update(seed.to_le_bytes());
    h.update([Style::tag(style)]);
    h.finalize().into()
}

// ---------------------------------------------------------------- numbers

/// SplitMix64 seeded from the digest: small, fast, plenty for choosing shapes.
struct Rng(u64);

impl Rng {
    fn from_digest(d: &[u8; 32]) -> Rng {
        let mut s = 0u64;
        for (i, chunk) in d.chunks_exact(8).enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            s ^= u64::from_le_bytes(w).rotate_left(17 * i as u32);
        }
        Rng(s)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u32 << 24) as f32
    }

    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in lo..=hi.
    fn int(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }

    /// Uniform in [0, 2π).
    fn angle(&mut self) -> f32 {
        self.range(0.0, std::f32::consts::TAU)
    }

    fn chance(&mut self, p: f32) -> bool {
        self.unit() < p
    }
}

/// Integer hash for per-pixel grain and sparkle (no state, no order).
fn hash3(x: u32, y: u32, salt: u32) -> u32 {
    let mut h = x.wrapping_mul(0x8DA6_B343) ^ y.wrapping_mul(0xD816_3841) ^ salt;
    h ^= h >> 15;
    h = h.wrapping_mul(0x2C1B_3C6D);
    h ^= h >> 12;
    h = h.wrapping_mul(0x297A_2D39);
    h ^= h >> 15;
    h
}

/// sin(x) from a polynomial, so results are the same on every platform.
/// Error below 1e-5, far under one 8-bit step.
fn sin(x: f32) -> f32 {
    use std::f32::consts::{FRAC_PI_2, PI, TAU};
    let r = x - (x / TAU).round() * TAU;
    let r = if r > FRAC_PI_2 {
        PI - r
    } else if r < -FRAC_PI_2 {
        -PI - r
    } else {
        r
    };
    let r2 = r * r;
    r * (1.0
        + r2 * (-1.0 / 6.0 + r2 * (1.0 / 120.0 + r2 * (-1.0 / 5040.0 + r2 * (1.0 / 362_880.0)))))
}

fn cos(x: f32) -> f32 {
    sin(x + std::f32::consts::FRAC_PI_2)
}

fn smooth(t: f32) -> f32 {
    let t = t.clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

type Rgb = [f32; 3];

fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    [
        lerp(a[0], b[0], t),
        lerp(a[1], b[1], t),
        lerp(a[2], b[2], t),
    ]
}

fn luma(c: Rgb) -> f32 {
    0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]
}

/// Hue in degrees, saturation and lightness in 0..=1.
#[derive(Debug, Clone, Copy)]
struct Hsl {
    h: f32,
    s: f32,
    l: f32,
}

impl Hsl {
    fn new(h: f32, s: f32, l: f32) -> Hsl {
        Hsl {
            h: h.rem_euclid(360.0),
            s: s.clamp(0.0, 1.0),
            l: l.clamp(0.0, 1.0),
        }
    }

    fn with_l(self, l: f32) -> Hsl {
        Hsl::new(self.h, self.s, l)
    }

    fn with_s(self, s: f32) -> Hsl {
        Hsl::new(self.h, s, self.l)
    }

    fn rgb(self) -> Rgb {
        let c = (1.0 - (2.0 * self.l - 1.0).abs()) * self.s;
        let hp = self.h / 60.0;
        let x = c * (1.0 - (hp.rem_euclid(2.0) - 1.0).abs());
        let (r, g, b) = match hp as u32 {
            0 => (c, x, 0.0),
            1 => (x, c, 0.0),
            2 => (0.0, c, x),
            3 => (0.0, x, c),
            4 => (x, 0.0, c),
            _ => (c, 0.0, x),
        };
        let m = self.l - c / 2.0;
        [r + m, g + m, b + m]
    }
}

// ------------------------------------------------------------ prompt words

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ground {
    Mountains,
    Hills,
    Forest,
    Sea,
}

/// What the prompt's words ask for. Anything left open is chosen by the hash.
#[derive(Debug, Default)]
struct Theme {
    /// Hue centre and spread, degrees.
    hue: Option<(f32, f32)>,
    dark: bool,
    sunset: bool,
    sun: bool,
    moon: bool,
    stars: bool,
    cosmic: bool,
    ground: Option<Ground>,
}

impl Theme {
    /// Only the first words count: the prompt is untrusted and may be long.
    const MAX_WORDS: usize = 64;

    fn from_prompt(prompt: &str) -> Theme {
        let mut theme = Theme::default();
        let lower = prompt.to_lowercase();
        let words = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .take(Self::MAX_WORDS);
        for word in words {
            if !theme.word(word) {
                if let Some(singular) = word.strip_suffix('s') {
                    if singular.len() >= 3 {
                        theme.word(singular);
                    }
                }
            }
        }
        theme
    }

    fn hue(&mut self, centre: f32, spread: f32) {
        if self.hue.is_none() {
            self.hue = Some((centre, spread));
        }
    }

    fn ground(&mut self, g: Ground) {
        if self.ground.is_none() {
            self.ground = Some(g);
        }
    }

    /// Applies one word; false when it means nothing here.
    fn word(&mut self, w: &str) -> bool {
        match w {
            "sunset" | "sunrise" | "dusk" | "dawn" | "twilight" => {
                self.hue(18.0, 55.0);
                self.sunset = true;
                self.sun = true;
            }
            "fire" | "flame" | "autumn" | "desert" | "sand" | "warm" | "orange" | "gold"
            | "golden" | "amber" | "summer" | "lava" | "copper" => self.hue(28.0, 45.0),
            "ocean" | "sea" | "wave" | "beach" | "lake" | "river" | "coast" | "shore" | "bay"
            | "harbor" | "harbour" | "surf" => {
                self.hue(205.0, 40.0);
                self.ground(Ground::Sea);
            }
            "water" | "rain" | "ice" | "winter" | "snow" | "cold" | "blue" | "sky" | "frost"
            | "glacier" | "storm" => self.hue(212.0, 35.0),
            "forest" | "tree" | "wood" | "jungle" | "pine" | "woodland" => {
                self.hue(122.0, 50.0);
                self.ground(Ground::Forest);
            }
            "garden" | "leaf" | "leave" | "grass" | "meadow" | "spring" | "green" | "nature"
            | "moss" | "field" | "valley" => {
                self.hue(105.0, 50.0);
                if matches!(w, "meadow" | "field" | "valley") {
                    self.ground(Ground::Hills);
                }
            }
            "mountain" | "peak" | "alp" | "alps" | "cliff" | "ridge" | "volcano" | "summit" => {
                self.ground(Ground::Mountains)
            }
            "hill" | "dune" | "countryside" => self.ground(Ground::Hills),
            "night" | "midnight" | "dark" | "darkness" | "shadow" | "evening" => {
                self.dark = true;
                self.stars |= matches!(w, "night" | "midnight");
            }
            "star" | "starry" => {
                self.dark = true;
                self.stars = true;
            }
            "space" | "galaxy" | "cosmos" | "cosmic" | "nebula" | "universe" | "planet"
            | "astronaut" => {
                self.dark = true;
                self.stars = true;
                self.cosmic = true;
            }
            "moon" | "moonlight" | "moonlit" => {
                self.dark = true;
                self.moon = true;
            }
            "sun" | "sunny" | "sunshine" | "yellow" | "lemon" => {
                self.hue(46.0, 35.0);
                self.sun |= !matches!(w, "yellow" | "lemon");
            }
            "flower" | "rose" | "love" | "pink" | "blossom" | "candy" | "cherry" | "heart" => {
                self.hue(335.0, 40.0)
            }
            "purple" | "violet" | "lavender" | "dream" | "magic" | "mystic" | "fantasy" => {
                self.hue(275.0, 45.0)
            }
            "red" | "crimson" | "ruby" | "blood" => self.hue(358.0, 25.0),
            "teal" | "turquoise" | "aqua" | "lagoon" | "tropical" => self.hue(176.0, 35.0),
            "city" | "neon" | "cyber" | "cyberpunk" | "synthwave" => {
                self.hue(300.0, 130.0);
                self.dark = true;
            }
            _ => return false,
        }
        true
    }
}

// ----------------------------------------------------------------- palette

struct Palette {
    /// 3 to 5 colours, darkest first.
    colours: Vec<Hsl>,
    /// The hue the palette is built around (used by the mono preset).
    base_hue: f32,
    dark: bool,
}

impl Palette {
    fn new(rng: &mut Rng, theme: &Theme, style: Option<Style>) -> Palette {
        let n = rng.int(3, 5);
        let (centre, spread) = theme
            .hue
            .unwrap_or_else(|| (rng.range(0.0, 360.0), rng.range(40.0, 150.0)));
        // A complementary accent only when no word chose the colours: "ocean"
        // should not come out with ochre water.
        let complement = rng.chance(0.35) && theme.hue.is_none();
        let mut colours = Vec::with_capacity(n);
        for i in 0..n {
            let t = i as f32 / (n - 1) as f32 - 0.5;
            let mut h = centre + t * spread + rng.range(-10.0, 10.0);
            if complement && i == n - 1 {
                h += 180.0;
            }
            let s = rng.range(0.45, 0.85);
            let l = rng.range(0.28, 0.78);
            let (s, l) = match style {
                Some(Style::Vivid) => ((s * 1.2 + 0.12).min(1.0), 0.22 + l * 0.62),
                Some(Style::Pastel) => (0.3 + s * 0.3, 0.6 + l * 0.3),
                Some(Style::Mono) => (s * 0.35, l),
                Some(Style::Noir) => (0.0, l),
                None => (s, l),
            };
            colours.push(Hsl::new(h, s, l));
        }
        colours.sort_by(|a, b| a.l.total_cmp(&b.l));
        Palette {
            colours,
            base_hue: centre,
            dark: theme.dark,
        }
    }

    fn darkest(&self) -> Hsl {
        self.colours[0]
    }

    fn lightest(&self) -> Hsl {
        self.colours[self.colours.len() - 1]
    }

    fn middle(&self) -> Hsl {
        self.colours[self.colours.len() / 2]
    }

    fn pick(&self, rng: &mut Rng) -> Hsl {
        self.colours[rng.int(0, self.colours.len() - 1)]
    }
}

// ------------------------------------------------------------------ canvas

struct Canvas {
    w: usize,
    h: usize,
    px: Vec<Rgb>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Canvas {
        Canvas {
            w,
            h,
            px: vec![[0.0; 3]; w * h],
        }
    }

    /// The shorter side, the unit for sizes so pictures scale with the canvas.
    fn unit(&self) -> f32 {
        self.w.min(self.h) as f32
    }

    fn wf(&self) -> f32 {
        self.w as f32
    }

    fn hf(&self) -> f32 {
        self.h as f32
    }

    /// Clamped half-open pixel range covering lo..hi.
    fn span(lo: f32, hi: f32, max: usize) -> (usize, usize) {
        // Float-to-int casts saturate (NaN becomes 0), so this cannot overflow.
        let a = (lo.floor().max(0.0) as usize).min(max);
        let b = (hi.ceil().max(0.0) as usize).min(max);
        (a, b.max(a))
    }
}

fn over(p: &mut Rgb, c: Rgb, a: f32) {
    for (v, c) in p.iter_mut().zip(c) {
        *v += (c - *v) * a;
    }
}

fn screen(p: &mut Rgb, c: Rgb, a: f32) {
    for (v, c) in p.iter_mut().zip(c) {
        let s = 1.0 - (1.0 - *v) * (1.0 - c);
        *v += (s - *v) * a;
    }
}

/// Colour stops along 0..=1, blended with a smoothstep between neighbours.
struct Gradient {
    stops: Vec<(f32, Rgb)>,
}

impl Gradient {
    fn even(colours: &[Rgb]) -> Gradient {
        let n = colours.len().max(2) - 1;
        Gradient {
            stops: colours
                .iter()
                .enumerate()
                .map(|(i, c)| (i as f32 / n as f32, *c))
                .collect(),
        }
    }

    fn at(&self, t: f32) -> Rgb {
        let Some(first) = self.stops.first() else {
            return [0.0; 3];
        };
        if t <= first.0 {
            return first.1;
        }
        for pair in self.stops.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if t <= b.0 {
                let span = (b.0 - a.0).max(1e-6);
                return mix(a.1, b.1, smooth((t - a.0) / span));
            }
        }
        self.stops[self.stops.len() - 1].1
    }
}

/// Fills the canvas with a linear gradient at `angle` (radians).
fn fill_linear(canvas: &mut Canvas, g: &Gradient, angle: f32) {
    let (dx, dy) = (cos(angle), sin(angle));
    let (w, h) = (canvas.wf(), canvas.hf());
    // Project the corners so t spans exactly 0..1 over the picture.
    let half = 0.5 * (w * dx.abs() + h * dy.abs()).max(1.0);
    let cw = canvas.w;
    for (y, row) in canvas.px.chunks_exact_mut(cw).enumerate() {
        let py = (y as f32 + 0.5 - h * 0.5) * dy;
        for (x, p) in row.iter_mut().enumerate() {
            let t = ((x as f32 + 0.5 - w * 0.5) * dx + py) / (2.0 * half) + 0.5;
            *p = g.at(t);
        }
    }
}

/// Fills the canvas with a vertical gradient reaching its last stop at `until_y`.
fn fill_vertical(canvas: &mut Canvas, g: &Gradient, until_y: f32) {
    let cw = canvas.w;
    let until = until_y.max(1.0);
    for (y, row) in canvas.px.chunks_exact_mut(cw).enumerate() {
        let c = g.at((y as f32 + 0.5) / until);
        row.fill(c);
    }
}

/// A soft, slightly wobbly ellipse with a gentle highlight.
struct Blob {
    cx: f32,
    cy: f32,
    rx: f32,
    ry: f32,
    colour: Rgb,
    highlight: Rgb,
    alpha: f32,
    /// Fraction of the radius over which the edge fades.
    soft: f32,
    screen: bool,
    wobble: f32,
    freq: f32,
    phase: (f32, f32),
}

impl Blob {
    fn random(rng: &mut Rng, canvas: &Canvas, colour: Hsl, size: (f32, f32)) -> Blob {
        let u = canvas.unit();
        let r = rng.range(size.0, size.1) * u;
        let stretch = rng.range(0.75, 1.35);
        Blob {
            cx: rng.range(-0.1, 1.1) * canvas.wf(),
            cy: rng.range(-0.1, 1.1) * canvas.hf(),
            rx: r * stretch,
            ry: r / stretch,
            colour: colour.rgb(),
            highlight: colour.with_l(colour.l + (1.0 - colour.l) * 0.5).rgb(),
            alpha: rng.range(0.35, 0.8),
            soft: rng.range(0.2, 0.7),
            screen: rng.chance(0.35),
            wobble: r * rng.range(0.0, 0.18),
            freq: rng.range(2.0, 6.0) / r.max(1.0),
            phase: (rng.angle(), rng.angle()),
        }
    }

    fn draw(&self, canvas: &mut Canvas) {
        if self.rx < 0.5 || self.ry < 0.5 || self.alpha <= 0.0 {
            return;
        }
        let pad = self.wobble.abs() + 1.0;
        let (x0, x1) = Canvas::span(self.cx - self.rx - pad, self.cx + self.rx + pad, canvas.w);
        let (y0, y1) = Canvas::span(self.cy - self.ry - pad, self.cy + self.ry + pad, canvas.h);
        if x0 == x1 || y0 == y1 {
            return;
        }
        // The wobble: x shifts with the row, y with the column; one sine each.
        let xoff: Vec<f32> = (y0..y1)
            .map(|y| self.wobble * sin(y as f32 * self.freq + self.phase.0))
            .collect();
        let yoff: Vec<f32> = (x0..x1)
            .map(|x| self.wobble * sin(x as f32 * self.freq + self.phase.1))
            .collect();
        let (irx, iry) = (1.0 / self.rx, 1.0 / self.ry);
        let inv_soft = 1.0 / self.soft.max(1e-3);
        for y in y0..y1 {
            let row = y * canvas.w;
            let xo = xoff[y - y0] + 0.5 - self.cx;
            let yb = y as f32 + 0.5 - self.cy;
            for x in x0..x1 {
                let dx = (x as f32 + xo) * irx;
                let dy = (yb + yoff[x - x0]) * iry;
                let q = dx * dx + dy * dy;
                if q >= 1.0 {
                    continue;
                }
                let d = q.sqrt();
                let a = self.alpha * smooth((1.0 - d) * inv_soft);
                // Lit from the upper left.
                let shade = (1.0 - q) * (0.5 - 0.35 * (dx + dy)).clamp(0.0, 1.0);
                let c = mix(self.colour, self.highlight, shade);
                let p = &mut canvas.px[row + x];
                if self.screen {
                    screen(p, c, a);
                } else {
                    over(p, c, a);
                }
            }
        }
    }
}

/// A glowing disc: a sun (`bite` = None) or a crescent moon.
struct Orb {
    cx: f32,
    cy: f32,
    r: f32,
    colour: Rgb,
    glow: Rgb,
    glow_strength: f32,
    glow_size: f32,
    bite: Option<(f32, f32)>,
}

impl Orb {
    fn draw(&self, canvas: &mut Canvas) {
        // Glow over the whole picture: one division per pixel.
        let k = 1.0 / (self.r * self.r * self.glow_size).max(1.0);
        let cw = canvas.w;
        for (y, row) in canvas.px.chunks_exact_mut(cw).enumerate() {
            let dy = y as f32 + 0.5 - self.cy;
            let dy2 = dy * dy;
            for (x, p) in row.iter_mut().enumerate() {
                let dx = x as f32 + 0.5 - self.cx;
                let g = self.glow_strength / (1.0 + (dx * dx + dy2) * k);
                screen(p, self.glow, g);
            }
        }
        // The disc, anti-aliased over one pixel.
        let (x0, x1) = Canvas::span(self.cx - self.r - 2.0, self.cx + self.r + 2.0, canvas.w);
        let (y0, y1) = Canvas::span(self.cy - self.r - 2.0, self.cy + self.r + 2.0, canvas.h);
        for y in y0..y1 {
            for x in x0..x1 {
                let dx = x as f32 + 0.5 - self.cx;
                let dy = y as f32 + 0.5 - self.cy;
                let mut a = (self.r - (dx * dx + dy * dy).sqrt() + 0.5).clamp(0.0, 1.0);
                if a <= 0.0 {
                    continue;
                }
                if let Some((bx, by)) = self.bite {
                    let ex = dx - bx * self.r;
                    let ey = dy - by * self.r;
                    let inside = (self.r * 0.92 - (ex * ex + ey * ey).sqrt() + 0.5).clamp(0.0, 1.0);
                    a *= 1.0 - 0.92 * inside;
                }
                over(&mut canvas.px[y * canvas.w + x], self.colour, a);
            }
        }
    }
}

fn draw_stars(canvas: &mut Canvas, rng: &mut Rng, density: f32, max_y: f32) {
    let area = canvas.wf() * max_y.clamp(0.0, canvas.hf());
    let count = ((area / 2600.0) * density) as usize;
    let scale = (canvas.unit() / 512.0).clamp(0.5, 3.0);
    for _ in 0..count.min(4000) {
        let cx = rng.range(0.0, canvas.wf());
        let cy = rng.range(0.0, max_y);
        let bright = rng.range(0.25, 1.0);
        let r = rng.range(0.5, 1.3) * scale * (0.5 + bright);
        let tint = match rng.int(0, 4) {
            0 => [0.8, 0.88, 1.0],
            1 => [1.0, 0.92, 0.8],
            _ => [1.0, 1.0, 1.0],
        };
        let rr = r * 2.5;
        let inv = 1.0 / (rr * rr);
        let (x0, x1) = Canvas::span(cx - rr, cx + rr, canvas.w);
        let (y0, y1) = Canvas::span(cy - rr, cy + rr, canvas.h);
        for y in y0..y1 {
            for x in x0..x1 {
                let dx = x as f32 + 0.5 - cx;
                let dy = y as f32 + 0.5 - cy;
                let f = 1.0 - (dx * dx + dy * dy) * inv;
                if f > 0.0 {
                    screen(&mut canvas.px[y * canvas.w + x], tint, bright * f * f);
                }
            }
        }
        // A few bright ones get a four-point glint.
        if bright > 0.85 && rng.chance(0.5) {
            let len = r * rng.range(5.0, 9.0);
            let steps = len.ceil() as i64;
            for s in -steps..=steps {
                let f = 1.0 - (s as f32).abs() / len;
                if f <= 0.0 {
                    continue;
                }
                let a = bright * 0.6 * f * f;
                for (x, y) in [(cx + s as f32, cy), (cx, cy + s as f32)] {
                    if x >= 0.0 && y >= 0.0 && x < canvas.wf() && y < canvas.hf() {
                        let i = y as usize * canvas.w + x as usize;
                        screen(&mut canvas.px[i], tint, a);
                    }
                }
            }
        }
    }
}

/// A cloud: a few overlapping soft ellipses along a flat-ish base.
fn draw_cloud(canvas: &mut Canvas, rng: &mut Rng, colour: Hsl, horizon: f32) {
    let u = canvas.unit();
    let cx = rng.range(-0.1, 1.1) * canvas.wf();
    let cy = rng.range(0.1, 0.75) * horizon;
    let size = rng.range(0.04, 0.09) * u;
    let puffs = rng.int(3, 6);
    let alpha = rng.range(0.3, 0.6);
    for i in 0..puffs {
        let t = i as f32 / (puffs - 1) as f32 - 0.5;
        // Bigger puffs in the middle, all sitting on roughly the same base.
        let r = size * (1.0 - t.abs()) * rng.range(0.8, 1.3) + size * 0.35;
        Blob {
            cx: cx + t * size * puffs as f32 * 1.1,
            cy: cy - r * 0.35,
            rx: r * rng.range(1.2, 1.7),
            ry: r * 0.75,
            colour: colour.rgb(),
            highlight: [1.0; 3],
            alpha,
            soft: 0.8,
            screen: true,
            wobble: 0.0,
            freq: 0.0,
            phase: (0.0, 0.0),
        }
        .draw(canvas);
    }
}

/// Sun glitter on water, inside a ridge layer.
struct Glint {
    cx: f32,
    colour: Rgb,
    strength: f32,
    salt: u32,
}

/// A filled silhouette under `top` (one y per column), optionally ending
/// above `bottom` (a ribbon), shaded from `colour_top` down to `colour_bottom`.
struct Ridge {
    top: Vec<f32>,
    bottom: Option<Vec<f32>>,
    colour_top: Rgb,
    colour_bottom: Rgb,
    alpha: f32,
    /// A lighter edge (foam, rim light) this many pixels deep.
    crest: Option<(Rgb, f32)>,
    glint: Option<Glint>,
}

impl Ridge {
    fn draw(&self, canvas: &mut Canvas) {
        let (w, h) = (canvas.w, canvas.h);
        if self.top.len() != w || self.bottom.as_ref().is_some_and(|b| b.len() != w) {
            return;
        }
        let min_top = self.top.iter().copied().fold(f32::INFINITY, f32::min);
        let start = Canvas::span(min_top - 1.0, min_top, h).0;
        let hf = canvas.hf();
        for y in start..h {
            let yc = y as f32;
            let row = y * w;
            for x in 0..w {
                let top = self.top[x];
                let mut cov = (yc + 1.0 - top).clamp(0.0, 1.0);
                if cov <= 0.0 {
                    continue;
                }
                let mut t = (yc - top) / (hf - top).max(1.0);
                if let Some(bottom) = &self.bottom {
                    let b = bottom[x];
                    cov *= (b - yc).clamp(0.0, 1.0);
                    if cov <= 0.0 {
                        continue;
                    }
                    t = (yc - top) / (b - top).max(1.0);
                }
                let mut c = mix(self.colour_top, self.colour_bottom, t.clamp(0.0, 1.0));
                if let Some((crest, depth)) = self.crest {
                    let d = (yc + 0.5 - top) / depth;
                    if d < 1.0 {
                        c = mix(c, crest, (1.0 - d.max(0.0)) * 0.85);
                    }
                }
                if let Some(g) = &self.glint {
                    let depth = (yc - top).max(0.0);
                    let half = 4.0 + depth * 0.9;
                    let dx = (x as f32 - g.cx) / half;
                    if dx.abs() < 1.0 {
                        // Short horizontal streaks: hash of the row and a
                        // column bucket that shifts from row to row.
                        let bucket = (x as u32).wrapping_add(y as u32 * 7) / 6;
                        let n = (hash3(bucket, y as u32 / 2, g.salt) >> 8) as f32 / 16_777_216.0;
                        if n > 0.55 {
                            let a = (n - 0.55) / 0.45 * (1.0 - dx * dx) * g.strength;
                            c = mix(c, g.colour, a.clamp(0.0, 1.0));
                        }
                    }
                }
                over(&mut canvas.px[row + x], c, cov * self.alpha);
            }
        }
    }
}

/// y per column: `base` plus a sum of sines (amplitude px, wavelength px, phase).
fn sine_profile(w: usize, base: f32, terms: &[(f32, f32, f32)]) -> Vec<f32> {
    (0..w)
        .map(|x| {
            let xf = x as f32 + 0.5;
            base + terms
                .iter()
                .map(|&(a, wl, ph)| a * sin(xf / wl.max(1.0) * std::f32::consts::TAU + ph))
                .sum::<f32>()
        })
        .collect()
}

fn random_sines(rng: &mut Rng, n: usize, amp: f32, wavelength: f32) -> Vec<(f32, f32, f32)> {
    (0..n)
        .map(|i| {
            let k = 1.0 / (1 + i) as f32;
            (
                amp * k * rng.range(0.5, 1.0),
                wavelength * k * rng.range(0.6, 1.4),
                rng.angle(),
            )
        })
        .collect()
}

/// Ridged value noise: peaks for mountain silhouettes. y = base - height.
fn mountain_profile(rng: &mut Rng, w: usize, base: f32, height: f32, cells: f32) -> Vec<f32> {
    const OCTAVES: usize = 5;
    let mut lattices = Vec::with_capacity(OCTAVES);
    for o in 0..OCTAVES {
        let n = (cells * (1u32 << o) as f32).ceil() as usize + 2;
        lattices.push((0..n).map(|_| rng.unit()).collect::<Vec<f32>>());
    }
    let wf = (w as f32).max(1.0);
    (0..w)
        .map(|x| {
            let mut sum = 0.0;
            let mut norm = 0.0;
            let mut amp = 1.0;
            for (o, lattice) in lattices.iter().enumerate() {
                let p = (x as f32 + 0.5) / wf * cells * (1u32 << o) as f32;
                let i = (p.floor() as usize).min(lattice.len() - 2);
                let v = lerp(lattice[i], lattice[i + 1], smooth(p - i as f32));
                let r = 1.0 - (2.0 * v - 1.0).abs();
                sum += amp * r * r;
                norm += amp;
                amp *= 0.48;
            }
            base - height * sum / norm
        })
        .collect()
}

/// Conifer tops along a rolling line: a row of triangles of random height.
fn forest_profile(rng: &mut Rng, line: &[f32], tree_w: f32, tree_h: f32) -> Vec<f32> {
    let w = line.len();
    let n = (w as f32 / tree_w).ceil() as usize + 3;
    let trees: Vec<(f32, f32, f32)> = (0..n)
        .map(|i| {
            let cx = (i as f32 - 1.0 + rng.range(-0.3, 0.3)) * tree_w;
            let hh = tree_h * rng.range(0.55, 1.25);
            let half = tree_w * rng.range(0.55, 0.95);
            (cx, hh, half)
        })
        .collect();
    (0..w)
        .map(|x| {
            let xf = x as f32 + 0.5;
            let k = (xf / tree_w) as usize + 1;
            let mut lift: f32 = 0.0;
            for &(cx, hh, half) in trees.iter().skip(k.saturating_sub(2)).take(4) {
                let f = 1.0 - (xf - cx).abs() / half;
                if f > 0.0 {
                    lift = lift.max(hh * f);
                }
            }
            line[x] - lift
        })
        .collect()
}

// ------------------------------------------------------------------ scenes

enum Scene {
    Abstract,
    Landscape(Ground),
    Cosmic,
}

fn random_ground(rng: &mut Rng) -> Ground {
    match rng.int(0, 3) {
        0 => Ground::Mountains,
        1 => Ground::Hills,
        2 => Ground::Forest,
        _ => Ground::Sea,
    }
}

fn pick_scene(rng: &mut Rng, theme: &Theme) -> Scene {
    let roll = rng.unit();
    if let Some(g) = theme.ground {
        return Scene::Landscape(g);
    }
    if theme.cosmic {
        return Scene::Cosmic;
    }
    if theme.sunset || theme.sun || theme.moon {
        return Scene::Landscape(random_ground(rng));
    }
    if theme.dark {
        return if roll < 0.6 {
            Scene::Landscape(random_ground(rng))
        } else {
            Scene::Cosmic
        };
    }
    if roll < 0.45 {
        Scene::Abstract
    } else if roll < 0.88 {
        Scene::Landscape(random_ground(rng))
    } else {
        Scene::Cosmic
    }
}

fn paint_abstract(canvas: &mut Canvas, rng: &mut Rng, pal: &Palette, theme: &Theme) {
    let dim = if pal.dark { 0.35 } else { 1.0 };
    let stops: Vec<Rgb> = {
        let mut cs: Vec<Hsl> = pal.colours.clone();
        if rng.chance(0.5) {
            cs.reverse();
        }
        cs.iter()
            .take(3)
            .map(|c| {
                c.with_l(c.l * dim + if pal.dark { 0.0 } else { 0.08 })
                    .rgb()
            })
            .collect()
    };
    fill_linear(canvas, &Gradient::even(&stops), rng.angle());

    if theme.stars {
        draw_stars(canvas, rng, 0.6, canvas.hf());
    }

    // A translucent ribbon or two flowing across.
    let u = canvas.unit();
    for _ in 0..rng.int(0, 3) {
        let base = rng.range(0.2, 0.85) * canvas.hf();
        let wl = rng.range(0.5, 1.4) * canvas.wf();
        let top = sine_profile(canvas.w, base, &random_sines(rng, 3, 0.12 * u, wl));
        let thick = rng.range(0.04, 0.22) * u;
        let bottom_terms = random_sines(rng, 2, 0.05 * u, wl * 0.7);
        let bottom: Vec<f32> = sine_profile(canvas.w, thick, &bottom_terms)
            .iter()
            .zip(&top)
            .map(|(t, b)| b + t.abs().max(2.0))
            .collect();
        let c = pal.pick(rng);
        Ridge {
            top,
            bottom: Some(bottom),
            colour_top: c.with_l(c.l + 0.15).rgb(),
            colour_bottom: c.rgb(),
            alpha: rng.range(0.3, 0.65),
            crest: None,
            glint: None,
        }
        .draw(canvas);
    }

    for _ in 0..rng.int(4, 8) {
        let c = pal.pick(rng);
        let mut blob = Blob::random(rng, canvas, c, (0.08, 0.38));
        if pal.dark {
            blob.screen = true;
            blob.alpha *= 0.7;
        }
        blob.draw(canvas);
    }
}

fn paint_landscape(
    canvas: &mut Canvas,
    rng: &mut Rng,
    pal: &Palette,
    theme: &Theme,
    ground: Ground,
) {
    let (w, h) = (canvas.wf(), canvas.hf());
    let u = canvas.unit();
    let horizon = h * rng.range(0.45, 0.66);
    let dark = pal.dark;

    // Sky: deep at the top, light at the horizon.
    let light = pal.lightest();
    let mid = pal.middle();
    let (top, middle, low) = if theme.sunset {
        (
            Hsl::new(pal.base_hue - 95.0, mid.s * 0.8, 0.22),
            mid.with_l(0.5),
            light.with_l(0.72).with_s(light.s.max(0.7)),
        )
    } else if dark {
        (
            pal.darkest().with_l(0.05),
            mid.with_l(0.13),
            light.with_l(0.3),
        )
    } else {
        (
            mid.with_l(mid.l * 0.8),
            light.with_l((light.l + 0.1).min(0.85)),
            light.with_l(0.88),
        )
    };
    let sky = [top.rgb(), middle.rgb(), low.rgb()];
    fill_vertical(canvas, &Gradient::even(&sky), horizon);

    if dark || theme.stars {
        draw_stars(canvas, rng, if dark { 1.0 } else { 0.4 }, horizon);
    }

    // Sun or moon.
    let mut sun_x = None;
    let want_moon = theme.moon || (dark && rng.chance(0.5));
    let want_sun = !dark && (theme.sun || rng.chance(0.55));
    if want_moon || want_sun {
        let cx = rng.range(0.15, 0.85) * w;
        let r = rng.range(0.05, 0.11) * u;
        let cy = if theme.sunset {
            horizon - r * rng.range(-0.2, 1.2)
        } else {
            rng.range(0.12, 0.6) * horizon
        };
        let orb = if want_moon {
            Orb {
                cx,
                cy,
                r: r * 0.8,
                colour: [0.96, 0.95, 0.88],
                glow: light.with_s(0.3).with_l(0.7).rgb(),
                glow_strength: 0.35,
                glow_size: 6.0,
                bite: rng
                    .chance(0.7)
                    .then(|| (rng.range(-0.6, 0.6), rng.range(-0.5, -0.2))),
            }
        } else {
            Orb {
                cx,
                cy,
                r,
                // Warm white, leaning to the palette, so it shows on pale skies.
                colour: mix(
                    Hsl::new(44.0, 1.0, 0.84).rgb(),
                    Hsl::new(light.h, 0.9, 0.9).rgb(),
                    0.4,
                ),
                glow: Hsl::new(light.h, 0.8, 0.7).rgb(),
                glow_strength: 0.55,
                glow_size: 10.0,
                bite: None,
            }
        };
        orb.draw(canvas);
        sun_x = Some(cx);
    }

    // Clouds: wide, soft and pale.
    if !dark && rng.chance(0.6) {
        let colour = low.with_l(0.93);
        for _ in 0..rng.int(1, 4) {
            draw_cloud(canvas, rng, colour, horizon);
        }
    }

    // Ground layers, far to near: later ones lower, darker, less hazy.
    let layers = rng.int(2, 4);
    let base = pal.darkest();
    let haze_colour = low.rgb();
    let near_l = if dark { 0.04 } else { base.l * 0.45 };
    let far_l = if dark { 0.14 } else { (base.l * 0.9).max(0.25) };
    for i in 0..layers {
        let depth = i as f32 / (layers - 1).max(1) as f32; // 0 far .. 1 near
        let y_base = horizon + (h - horizon) * depth * rng.range(0.25, 0.45);
        let hue_shift = rng.range(-12.0, 12.0);
        let body = Hsl::new(base.h + hue_shift, base.s * 0.9, lerp(far_l, near_l, depth));
        let haze = 0.65 * (1.0 - depth);
        let colour_top = mix(body.rgb(), haze_colour, haze);
        let colour_bottom = mix(body.with_l(body.l * 0.7).rgb(), haze_colour, haze * 0.6);
        let mut ridge = Ridge {
            top: Vec::new(),
            bottom: None,
            colour_top,
            colour_bottom,
            alpha: 1.0,
            crest: None,
            glint: None,
        };
        match ground {
            Ground::Mountains => {
                let height = (h - horizon) * 0.5 + horizon * rng.range(0.15, 0.45) * (1.0 - depth);
                let cells = rng.range(2.0, 4.5) + depth * 2.0;
                ridge.top = mountain_profile(rng, canvas.w, y_base + h * 0.06, height, cells);
                if rng.chance(0.4) && !dark {
                    ridge.crest = Some((mix(colour_top, [1.0; 3], 0.45), 0.012 * u));
                }
            }
            Ground::Hills => {
                let wl = w * rng.range(0.5, 1.1);
                let terms = random_sines(rng, 3, (0.04 + 0.05 * depth) * h, wl);
                ridge.top = sine_profile(canvas.w, y_base, &terms);
            }
            Ground::Forest => {
                let wl = w * rng.range(0.6, 1.2);
                let terms = random_sines(rng, 2, 0.03 * h, wl);
                let line = sine_profile(canvas.w, y_base + 0.04 * h, &terms);
                ridge.top = if i + 2 >= layers {
                    let tree_w = (u * rng.range(0.018, 0.032) * (1.0 + depth)).max(2.0);
                    let tree_h = tree_w * rng.range(2.5, 4.0);
                    forest_profile(rng, &line, tree_w, tree_h)
                } else {
                    line
                };
            }
            Ground::Sea => {
                if i == 0 {
                    // The open water from the horizon down, with sun glitter.
                    ridge.top = vec![horizon; canvas.w];
                    let water = Hsl::new(pal.middle().h, mid.s, if dark { 0.12 } else { 0.38 });
                    ridge.colour_top = mix(water.rgb(), haze_colour, 0.45);
                    ridge.colour_bottom = water.with_l(water.l * 0.6).rgb();
                    ridge.glint = sun_x.map(|cx| Glint {
                        cx,
                        colour: mix(low.rgb(), [1.0; 3], 0.6),
                        strength: if dark { 0.5 } else { 0.75 },
                        salt: rng.next_u64() as u32,
                    });
                } else {
                    let wl = w * rng.range(0.15, 0.4);
                    let terms = random_sines(rng, 3, (0.008 + 0.02 * depth) * h, wl);
                    ridge.top = sine_profile(canvas.w, y_base + 0.05 * h, &terms);
                    let water = Hsl::new(
                        pal.middle().h + hue_shift,
                        mid.s,
                        lerp(0.36, 0.2, depth) * if dark { 0.4 } else { 1.0 },
                    );
                    ridge.colour_top = water.rgb();
                    ridge.colour_bottom = water.with_l(water.l * 0.6).rgb();
                    ridge.alpha = 0.85;
                    ridge.crest =
                        Some((mix(water.rgb(), [1.0; 3], 0.6), (0.006 + 0.01 * depth) * u));
                }
            }
        }
        ridge.draw(canvas);
    }
}

fn paint_cosmic(canvas: &mut Canvas, rng: &mut Rng, pal: &Palette) {
    let stops: Vec<Rgb> = pal
        .colours
        .iter()
        .take(3)
        .enumerate()
        .map(|(i, c)| c.with_l(0.03 + 0.05 * i as f32).rgb())
        .collect();
    fill_linear(canvas, &Gradient::even(&stops), rng.angle());

    // Nebula: big faint clouds, added light.
    for _ in 0..rng.int(3, 6) {
        let c = pal.pick(rng);
        let c = c.with_l(c.l.max(0.45));
        let mut b = Blob::random(rng, canvas, c, (0.25, 0.55));
        b.alpha = rng.range(0.15, 0.4);
        b.soft = 0.95;
        b.screen = true;
        b.wobble *= 2.0;
        b.draw(canvas);
    }
    draw_stars(canvas, rng, 1.6, canvas.hf());

    if rng.chance(0.6) {
        let c = pal.pick(rng);
        let r = rng.range(0.08, 0.2) * canvas.unit();
        let cx = rng.range(0.15, 0.85) * canvas.wf();
        let cy = rng.range(0.15, 0.85) * canvas.hf();
        let (lx, ly) = (rng.range(-0.8, 0.8), rng.range(-0.8, 0.2));
        draw_planet(canvas, cx, cy, r, c, (lx, ly));
    }
}

/// A shaded sphere lit from (lx, ly) (a direction in the picture plane).
fn draw_planet(canvas: &mut Canvas, cx: f32, cy: f32, r: f32, c: Hsl, light: (f32, f32)) {
    let lit = c.with_l(0.55 + 0.2 * c.l).rgb();
    let shadow = c.with_l(0.05).rgb();
    let (x0, x1) = Canvas::span(cx - r - 2.0, cx + r + 2.0, canvas.w);
    let (y0, y1) = Canvas::span(cy - r - 2.0, cy + r + 2.0, canvas.h);
    let inv = 1.0 / r.max(1.0);
    for y in y0..y1 {
        for x in x0..x1 {
            let dx = x as f32 + 0.5 - cx;
            let dy = y as f32 + 0.5 - cy;
            let d = (dx * dx + dy * dy).sqrt();
            let a = (r - d + 0.5).clamp(0.0, 1.0);
            if a <= 0.0 {
                continue;
            }
            let facing = (dx * light.0 + dy * light.1) * inv;
            let t = smooth(0.5 + facing * 0.9);
            let mut col = mix(shadow, lit, t);
            // Rim of atmosphere.
            let rim = smooth((d * inv - 0.85) / 0.15) * 0.35;
            col = mix(col, lit, rim);
            over(&mut canvas.px[y * canvas.w + x], col, a);
        }
    }
}

// ------------------------------------------------------------------ finish

/// The last pass: style grading, vignette, grain and 8-bit quantisation.
struct Finish {
    style: Option<Style>,
    vignette: f32,
    grain: f32,
    salt: u32,
    /// Duotone ends for "mono".
    duo: Gradient,
}

impl Finish {
    fn new(rng: &mut Rng, pal: &Palette, style: Option<Style>, digest: &[u8; 32]) -> Finish {
        let vignette = match style {
            Some(Style::Noir) => rng.range(0.45, 0.6),
            Some(Style::Pastel) => rng.range(0.05, 0.12),
            _ => rng.range(0.15, 0.35),
        };
        let grain = match style {
            Some(Style::Noir) => 0.04,
            Some(Style::Pastel) => 0.01,
            _ => 0.015,
        };
        let hue = pal.base_hue;
        Finish {
            style,
            vignette,
            grain,
            salt: u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]]),
            duo: Gradient::even(&[
                Hsl::new(hue, 0.3, 0.07).rgb(),
                Hsl::new(hue, 0.22, 0.48).rgb(),
                Hsl::new(hue + 15.0, 0.35, 0.93).rgb(),
            ]),
        }
    }

    fn grade(&self, c: Rgb) -> Rgb {
        match self.style {
            None => c,
            Some(Style::Vivid) => {
                let l = luma(c);
                c.map(|v| (l + (v - l) * 1.25 - 0.5) * 1.1 + 0.5)
            }
            Some(Style::Pastel) => {
                let l = luma(c);
                c.map(|v| 0.24 + 0.76 * (l + (v - l) * 0.9))
            }
            Some(Style::Mono) => {
                let l = luma(c).clamp(0.0, 1.0);
                self.duo.at(l)
            }
            Some(Style::Noir) => {
                let l = luma(c).clamp(0.0, 1.0);
                let v = lerp(l, smooth(smooth(l)), 0.7);
                [v; 3]
            }
        }
    }

    fn apply(&self, canvas: &Canvas) -> Vec<u8> {
        let mut out = Vec::with_capacity(canvas.px.len() * 3);
        let (w, h) = (canvas.wf(), canvas.hf());
        for (y, row) in canvas.px.chunks_exact(canvas.w).enumerate() {
            let ny = (y as f32 + 0.5) / h - 0.5;
            for (x, &p) in row.iter().enumerate() {
                let nx = (x as f32 + 0.5) / w - 0.5;
                let v = 1.0 - self.vignette * (nx * nx + ny * ny) * 2.0;
                let n = hash3(x as u32, y as u32, self.salt);
                let g = ((n >> 8) as f32 / 8_388_608.0 - 1.0) * self.grain;
                let c = self.grade(p);
                for k in c {
                    out.push(((k * v + g).clamp(0.0, 1.0) * 255.0 + 0.5) as u8);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polynomial_sine_is_close_to_std() {
        let mut x = -50.0f32;
        while x < 50.0 {
            assert!((sin(x) - x.sin()).abs() < 1e-4, "sin({x})");
            assert!((cos(x) - x.cos()).abs() < 1e-4, "cos({x})");
            x += 0.037;
        }
    }

    #[test]
    fn hsl_primaries() {
        let close = |a: Rgb, b: Rgb| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4);
        assert!(close(Hsl::new(0.0, 1.0, 0.5).rgb(), [1.0, 0.0, 0.0]));
        assert!(close(Hsl::new(120.0, 1.0, 0.5).rgb(), [0.0, 1.0, 0.0]));
        assert!(close(Hsl::new(240.0, 1.0, 0.5).rgb(), [0.0, 0.0, 1.0]));
        assert!(close(Hsl::new(-120.0, 1.0, 0.5).rgb(), [0.0, 0.0, 1.0]));
        assert!(close(Hsl::new(77.0, 0.0, 0.3).rgb(), [0.3, 0.3, 0.3]));
    }

    #[test]
    fn style_names() {
        assert_eq!(Style::parse(Some(" Noir ")), Some(Style::Noir));
        assert_eq!(Style::parse(Some("pastel")), Some(Style::Pastel));
        assert_eq!(Style::parse(Some("VIVID")), Some(Style::Vivid));
        assert_eq!(Style::parse(Some("mono")), Some(Style::Mono));
        assert_eq!(Style::parse(Some("watercolour")), None);
        assert_eq!(Style::parse(None), None);
    }

    #[test]
    fn prompt_words_steer_the_theme() {
        let t = Theme::from_prompt("Sunset over the MOUNTAINS");
        assert!(t.sunset && t.sun);
        assert_eq!(t.ground, Some(Ground::Mountains));
        assert_eq!(t.hue.map(|h| h.0), Some(18.0));

        let t = Theme::from_prompt("a starry night by the sea");
        assert!(t.dark && t.stars);
        assert_eq!(t.ground, Some(Ground::Sea));

        let t = Theme::from_prompt("deep forests");
        assert_eq!(t.ground, Some(Ground::Forest));

        let t = Theme::from_prompt("a cat in a hat");
        assert!(t.hue.is_none() && t.ground.is_none() && !t.dark);
    }

    #[test]
    fn every_scene_renders_at_odd_sizes() {
        // Exercise all grounds and scenes, including tiny and lopsided canvases.
        for prompt in [
            "mountain", "hill", "forest", "sea", "galaxy", "night", "sunset", "x",
        ] {
            for (w, h) in [(1, 1), (2, 7), (37, 5), (64, 48)] {
                let (rw, rh, px) = render_rgb(prompt, 3, w, h, None);
                assert_eq!((rw, rh), (w, h));
                assert_eq!(px.len(), (w * h * 3) as usize);
            }
        }
    }
}
