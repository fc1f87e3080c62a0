//! The model card: a JSON file beside each model saying what it was trained on and how well it did.
pub struct Placeholder;
