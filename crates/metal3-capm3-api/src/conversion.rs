//! v1beta1 ⇄ v1beta2 conversion (placeholder while the types settle).
