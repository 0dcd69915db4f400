//! The models this deployment offers, from configuration.

use std::sync::Arc;

use uni1_models::{Capabilities, ImageModel};

/// One configured model.
#[derive(Clone)]
pub struct ModelEntry {
    /// Stable id used in requests and stored with each generation.
    pub id: String,
    /// Shown in the studio.
    pub name: String,
    /// One line shown under the picker (e.g. "built-in, not AI").
    pub description: String,
    pub credits_per_image: i64,
    pub model: Arc<dyn ImageModel>,
}

impl std::fmt::Debug for ModelEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelEntry")
            .field("id", &self.id)
            .field("backend", &self.model.backend())
            .field("credits_per_image", &self.credits_per_image)
            .finish_non_exhaustive()
    }
}

impl ModelEntry {
    pub fn capabilities(&self) -> &Capabilities {
        self.model.capabilities()
    }
}

/// The enabled models, in the order the studio lists them.
#[derive(Clone, Default)]
pub struct Catalog {
    models: Vec<ModelEntry>,
}

impl Catalog {
    pub fn new(models: Vec<ModelEntry>) -> Self {
        Self { models }
    }

    /// Only the built-in generator (the embedded default).
    pub fn builtin_only() -> Self {
        Self::new(vec![ModelEntry {
            id: "builtin".into(),
            name: "uni1 built-in".into(),
            description: "Built-in pattern generator: runs locally, not AI".into(),
            credits_per_image: 1,
            model: Arc::new(uni1_models::builtin::Builtin::new()),
        }])
    }

    pub fn get(&self, id: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.id == id)
    }

    pub fn all(&self) -> &[ModelEntry] {
        &self.models
    }

    /// The aspect ratios some model offers ("1:1", "16:9", ...), each once,
    /// in catalogue order: the gallery's filter choices.
    pub fn aspect_ratio_labels(&self) -> Vec<&'static str> {
        let mut labels: Vec<&'static str> = Vec::new();
        for m in &self.models {
            for a in &m.capabilities().aspect_ratios {
                if !labels.contains(&a.label()) {
                    labels.push(a.label());
                }
            }
        }
        labels
    }
}
