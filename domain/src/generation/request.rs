//! What the studio sends, parsed against the chosen model's capabilities.

use uni1_models::AspectRatio;
use uuid::Uuid;

use super::catalog::{Catalog, ModelEntry};

/// Prompt length limits (characters).
pub const MAX_PROMPT: usize = 2000;
pub const MAX_NEGATIVE: usize = 1000;
/// Seeds are 0..=2^32-1: every model accepts them, and browsers show them exactly.
pub const MAX_SEED: u64 = u32::MAX as u64;

/// The raw form.
#[derive(Debug, Clone, Default)]
pub struct SubmitInput {
    /// Made by the browser once per form submission; a repeated submission
    /// with the same key returns the same job.
    pub idempotency_key: String,
    pub model_id: String,
    pub prompt: String,
    pub negative_prompt: String,
    pub aspect_ratio: String,
    pub count: u32,
    pub seed: Option<u64>,
    pub style: String,
    pub reference_upload: Option<Uuid>,
    pub reference_strength: Option<f32>,
    /// The image this is a variation of (gallery lineage).
    pub parent_id: Option<Uuid>,
}

/// A field and what is wrong with it, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

fn bad(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// A valid request for one model.
#[derive(Debug, Clone)]
pub struct Submission {
    pub idempotency_key: String,
    pub model_id: String,
    pub prompt: String,
    pub negative_prompt: Option<String>,
    pub aspect_ratio: AspectRatio,
    pub count: u8,
    pub seed: Option<u64>,
    pub style: Option<String>,
    pub reference_upload: Option<Uuid>,
    pub reference_strength: Option<f32>,
    pub parent_id: Option<Uuid>,
    /// Credits this costs.
    pub credits: i64,
}

impl Submission {
    /// Checks `input` against the catalog; the first problem found is returned.
    pub fn parse(input: SubmitInput, catalog: &Catalog) -> Result<(Self, ModelEntry), FieldError> {
        let key = input.idempotency_key.trim();
        if key.len() < 8
            || key.len() > 64
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad(
                "form",
                "This form is out of date. Reload the page and try again.",
            ));
        }
        let model = catalog
            .get(input.model_id.trim())
            .ok_or_else(|| bad("model", "Choose one of the listed models."))?
            .clone();
        let caps = model.capabilities();

        let prompt = input.prompt.trim();
        if prompt.is_empty() {
            return Err(bad("prompt", "Describe the image you want."));
        }
        if prompt.chars().count() > MAX_PROMPT {
            return Err(bad(
                "prompt",
                format!("Keep the prompt under {MAX_PROMPT} characters."),
            ));
        }
        let negative = input.negative_prompt.trim();
        let negative_prompt = if negative.is_empty() {
            None
        } else if !caps.negative_prompt {
            return Err(bad(
                "negative_prompt",
                "This model does not take a negative prompt.",
            ));
        } else if negative.chars().count() > MAX_NEGATIVE {
            return Err(bad(
                "negative_prompt",
                format!("Keep the negative prompt under {MAX_NEGATIVE} characters."),
            ));
        } else {
            Some(negative.to_owned())
        };

        let aspect_ratio = AspectRatio::parse(input.aspect_ratio.trim())
            .filter(|a| caps.aspect_ratios.contains(a))
            .ok_or_else(|| bad("aspect_ratio", "Choose one of the listed aspect ratios."))?;

        let max = u32::from(caps.max_images);
        if input.count == 0 || input.count > max {
            return Err(bad(
                "count",
                format!("This model makes 1 to {max} images at a time."),
            ));
        }
        let count = u8::try_from(input.count).map_err(|_| bad("count", "Too many images."))?;

        let seed = match input.seed {
            Some(_) if !caps.seed => return Err(bad("seed", "This model does not take a seed.")),
            Some(s) if s > MAX_SEED => {
                return Err(bad("seed", format!("The seed must be 0 to {MAX_SEED}.")))
            }
            s => s,
        };

        let style = input.style.trim();
        let style = if style.is_empty() || style == "none" {
            None
        } else if caps.style_presets.iter().any(|s| s == style) {
            Some(style.to_owned())
        } else {
            return Err(bad("style", "Choose one of the listed styles."));
        };

        if input.reference_upload.is_some() && !caps.reference_image {
            return Err(bad(
                "reference",
                "This model does not take a reference image.",
            ));
        }
        let reference_strength = match (input.reference_upload, input.reference_strength) {
            (None, _) => None,
            (Some(_), None) => Some(0.5),
            (Some(_), Some(s)) if (0.0..=1.0).contains(&s) => Some(s),
            (Some(_), Some(_)) => {
                return Err(bad("reference_strength", "The strength must be 0 to 1."))
            }
        };

        let credits = model.credits_per_image * i64::from(count);
        Ok((
            Self {
                idempotency_key: key.to_owned(),
                model_id: model.id.clone(),
                prompt: prompt.to_owned(),
                negative_prompt,
                aspect_ratio,
                count,
                seed,
                style,
                reference_upload: input.reference_upload,
                reference_strength,
                parent_id: input.parent_id,
                credits,
            },
            model,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SubmitInput {
        SubmitInput {
            idempotency_key: "abcdefgh-1234".into(),
            model_id: "builtin".into(),
            prompt: " a lighthouse at dusk ".into(),
            aspect_ratio: "16:9".into(),
            count: 2,
            ..Default::default()
        }
    }

    #[test]
    fn valid_input_parses_and_prices() {
        let (s, m) = Submission::parse(input(), &Catalog::builtin_only()).unwrap();
        assert_eq!(s.prompt, "a lighthouse at dusk");
        assert_eq!(s.aspect_ratio, AspectRatio::Wide16x9);
        assert_eq!(s.credits, 2 * m.credits_per_image);
        assert_eq!(s.negative_prompt, None);
    }

    #[test]
    fn each_bad_field_is_named() {
        let catalog = Catalog::builtin_only();
        let cases: Vec<(SubmitInput, &str)> = vec![
            (
                SubmitInput {
                    prompt: "  ".into(),
                    ..input()
                },
                "prompt",
            ),
            (
                SubmitInput {
                    prompt: "x".repeat(MAX_PROMPT + 1),
                    ..input()
                },
                "prompt",
            ),
            (
                SubmitInput {
                    model_id: "nope".into(),
                    ..input()
                },
                "model",
            ),
            (
                SubmitInput {
                    aspect_ratio: "2:1".into(),
                    ..input()
                },
                "aspect_ratio",
            ),
            (
                SubmitInput {
                    count: 0,
                    ..input()
                },
                "count",
            ),
            (
                SubmitInput {
                    count: 99,
                    ..input()
                },
                "count",
            ),
            (
                SubmitInput {
                    seed: Some(MAX_SEED + 1),
                    ..input()
                },
                "seed",
            ),
            (
                SubmitInput {
                    style: "baroque".into(),
                    ..input()
                },
                "style",
            ),
            (
                SubmitInput {
                    idempotency_key: "short".into(),
                    ..input()
                },
                "form",
            ),
            (
                SubmitInput {
                    idempotency_key: "bad key with spaces".into(),
                    ..input()
                },
                "form",
            ),
        ];
        for (case, field) in cases {
            let err = Submission::parse(case, &catalog).unwrap_err();
            assert_eq!(err.field, field, "{err}");
            assert!(!err.message.is_empty());
        }
    }
}
