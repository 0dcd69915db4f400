//! Form building blocks: labelled fields with their error line, and helpers
//! that pick a field's error out of a server action's result.

use leptos::prelude::*;

use crate::error::AppError;

/// A signal holding a server action's last result (`ServerAction::value()`).
pub trait ActionValue<T>:
    Get<Value = Option<Result<T, AppError>>> + Copy + Send + Sync + 'static
{
}
impl<S, T> ActionValue<T> for S where
    S: Get<Value = Option<Result<T, AppError>>> + Copy + Send + Sync + 'static
{
}

/// The error text for `field` from the last submission, if any.
pub fn error_for<T>(
    value: impl ActionValue<T>,
    field: &'static str,
) -> impl Fn() -> Option<String> + Send + Sync + Clone + 'static
where
    T: Clone + Send + Sync + 'static,
{
    move || match value.get() {
        Some(Err(e)) if e.field() == Some(field) => Some(e.to_string()),
        _ => None,
    }
}

/// The error text that belongs to no field (credentials, rate limits, ...).
pub fn general_error<T>(
    value: impl ActionValue<T>,
) -> impl Fn() -> Option<String> + Send + Sync + Clone + 'static
where
    T: Clone + Send + Sync + 'static,
{
    move || match value.get() {
        Some(Err(e)) if e.field().is_none() => Some(e.to_string()),
        _ => None,
    }
}

/// True once the last submission succeeded.
pub fn succeeded<T>(value: impl ActionValue<T>) -> impl Fn() -> bool + Send + Sync + Clone + 'static
where
    T: Clone + Send + Sync + 'static,
{
    move || matches!(value.get(), Some(Ok(_)))
}

/// A labelled input with an optional hint and its error line.
#[component]
pub fn Field<E>(
    label: &'static str,
    name: &'static str,
    #[prop(default = "text")] kind: &'static str,
    #[prop(default = "off")] autocomplete: &'static str,
    #[prop(optional)] hint: Option<&'static str>,
    error: E,
) -> impl IntoView
where
    E: Fn() -> Option<String> + Send + Sync + 'static,
{
    let id = format!("field-{name}");
    let described = format!(
        "{id}-error{}",
        if hint.is_some() {
            format!(" {id}-hint")
        } else {
            String::new()
        }
    );
    view! {
        <div class="space-y-1">
            <label for=id.clone() class="block text-sm font-medium">{label}</label>
            <input id=id.clone() type=kind name=name autocomplete=autocomplete required class="input"
                aria-describedby=described />
            {hint.map(|h| view! { <p id=format!("{id}-hint") class="text-sm text-ink-muted">{h}</p> })}
            <p id=format!("{id}-error") class="text-sm text-danger" role="alert">{error}</p>
        </div>
    }
}

/// A labelled checkbox with its error line.
#[component]
pub fn Checkbox<E>(name: &'static str, error: E, children: Children) -> impl IntoView
where
    E: Fn() -> Option<String> + Send + Sync + 'static,
{
    let id = format!("field-{name}");
    view! {
        <div class="space-y-1">
            <div class="flex items-start gap-2">
                <input id=id.clone() type="checkbox" name=name class="mt-1 size-4 accent-brand-600"
                    aria-describedby=format!("{id}-error") />
                <label for=id.clone() class="text-sm">{children()}</label>
            </div>
            <p id=format!("{id}-error") class="text-sm text-danger" role="alert">{error}</p>
        </div>
    }
}

/// An error line for the whole form.
#[component]
pub fn FormError<E>(error: E) -> impl IntoView
where
    E: Fn() -> Option<String> + Send + Sync + 'static,
{
    view! { <p class="text-sm text-danger" role="alert" data-testid="form-error">{error}</p> }
}
