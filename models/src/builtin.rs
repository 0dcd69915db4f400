//! The built-in local generator as an [`ImageModel`](crate::ImageModel).

use crate::{Capabilities, GenerationRequest, ImageData, ImageModel, JobHooks, Outcome};

/// Renders with `uni1_imaging::render_builtin_png` on the blocking pool.
pub struct Builtin {
    pub capabilities: Capabilities,
}

impl Builtin {
    /// Default capabilities: every aspect ratio, 512 px base, up to 4 images,
    /// negative prompt, seed, reference image, a few style presets.
    pub fn new() -> Self {
        Self {
            capabilities: Capabilities {
                aspect_ratios: crate::AspectRatio::ALL.to_vec(),
                base_size: 512,
                max_images: 4,
                negative_prompt: true,
                seed: true,
                reference_image: true,
                style_presets: vec![],
            },
        }
    }
}

impl Default for Builtin {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait::async_trait]
impl ImageModel for Builtin {
    fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }
    fn backend(&self) -> &'static str {
        "builtin"
    }
    /// Renders `count` images with seeds `seed`, `seed + 1`, ... so one
    /// image of a batch can be re-rendered alone from its own seed.
    ///
    /// The negative prompt and the reference image are accepted (the studio
    /// offers them for every model) but do not change the picture: the
    /// built-in generator is a deterministic pattern, not a diffusion model,
    /// and pretending to follow them would mislead.
    async fn generate(&self, request: &GenerationRequest, _hooks: &dyn JobHooks) -> Outcome {
        if request.count == 0 || request.count > self.capabilities.max_images {
            return Outcome::Failed {
                retryable: false,
                message: format!(
                    "the built-in generator makes 1 to {} images, not {}",
                    self.capabilities.max_images, request.count
                ),
            };
        }
        let seed = request.seed.unwrap_or_else(rand::random);
        let (width, height) = request.aspect_ratio.size(self.capabilities.base_size);
        let prompt = request.prompt.clone();
        let style = request.style.clone();
        let count = request.count;
        let rendered = tokio::task::spawn_blocking(move || {
            (0..u64::from(count))
                .map(|i| {
                    uni1_imaging::render_builtin_png(
                        &prompt,
                        seed.wrapping_add(i),
                        width,
                        height,
                        style.as_deref(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .await;
        match rendered {
            Ok(images) if images.iter().all(|png| !png.is_empty()) => Outcome::Succeeded {
                images: images.into_iter().map(ImageData::Bytes).collect(),
                seed: Some(seed),
            },
            // The same inputs would fail the same way: not retryable.
            Ok(_) => Outcome::Failed {
                retryable: false,
                message: "the built-in generator produced an empty image".into(),
            },
            Err(error) => Outcome::Failed {
                retryable: false,
                message: format!("the built-in generator failed: {error}"),
            },
        }
    }
}
