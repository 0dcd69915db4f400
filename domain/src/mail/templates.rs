//! The mails uni1 sends, each as plain text and HTML. Every value put into
//! HTML is escaped.

use super::{MailContext, Message};

/// Escapes text for HTML element content and quoted attribute values
/// (`& < > " '`), with the crate Leptos renders pages with (the studio
/// escapes its prompt with the same function).
pub fn escape(s: &str) -> String {
    html_escape::encode_quoted_attribute(s).into_owned()
}

fn render(
    ctx: &MailContext,
    subject: String,
    greeting: &str,
    paragraphs: &[String],
    action: Option<(&str, &str)>,
) -> Message {
    render_with(ctx, subject, greeting, paragraphs, action, None)
}

/// Why a mail came and how to stop it: (why, unsubscribe link), or (why,
/// no link) for a required notice.
type Footnote<'a> = Option<(&'a str, Option<&'a str>)>;

fn render_with(
    ctx: &MailContext,
    subject: String,
    greeting: &str,
    paragraphs: &[String],
    action: Option<(&str, &str)>,
    footnote: Footnote<'_>,
) -> Message {
    let mut text = format!("{greeting}\n\n");
    let mut html = format!(
        "<!doctype html><html><body style=\"font-family:system-ui,sans-serif;line-height:1.5;color:#16161d\">\
         <p>{}</p>",
        escape(greeting)
    );
    for p in paragraphs {
        text.push_str(p);
        text.push_str("\n\n");
        html.push_str(&format!("<p>{}</p>", escape(p)));
    }
    if let Some((label, url)) = action {
        text.push_str(&format!("{label}:\n{url}\n\n"));
        html.push_str(&format!(
            "<p><a href=\"{}\" style=\"display:inline-block;padding:10px 16px;background:#5b3df5;color:#fff;border-radius:6px;text-decoration:none\">{}</a></p>\
             <p style=\"font-size:13px;color:#4b4b5a\">Or open this address: {}</p>",
            escape(url),
            escape(label),
            escape(url)
        ));
    }
    if let Some((why, link)) = footnote {
        text.push_str(&format!("{why}\n"));
        html.push_str(&format!(
            "<p style=\"font-size:12px;color:#4b4b5a\">{}</p>",
            escape(why)
        ));
        if let Some(url) = link {
            text.push_str(&format!("Unsubscribe with one click: {url}\n"));
            html.push_str(&format!(
                "<p style=\"font-size:12px;color:#4b4b5a\"><a href=\"{}\">Unsubscribe</a> with one click (no sign-in needed).</p>",
                escape(url)
            ));
        }
        text.push('\n');
    }
    let footer = format!(
        "Sent by uni1, operated by {}. Questions: {}",
        ctx.operator_name, ctx.operator_email
    );
    text.push_str(&format!("-- \n{footer}\n"));
    html.push_str(&format!(
        "<hr><p style=\"font-size:12px;color:#4b4b5a\">{}</p></body></html>",
        escape(&footer)
    ));
    Message {
        subject,
        text,
        html,
    }
}

// Mails to an address nobody has confirmed yet (a confirmation link, the
// notice of a sign-up attempt) greet without the account's display name:
// whoever typed the address chose that name, and it must not put their
// words into a mail from uni1.

/// Confirm the address of a new account.
pub fn confirm_email(ctx: &MailContext, token: &str) -> Message {
    let url = ctx.link(&format!("/confirm-email?token={token}"));
    render(
        ctx,
        "Confirm your e-mail address for uni1".into(),
        "Hello,",
        &["Please confirm that this is your e-mail address. The link works for 48 hours and only once.".into(),
          "If you did not create an account, ignore this mail: nothing happens without the confirmation.".into()],
        Some(("Confirm my address", &url)),
    )
}

/// Someone tried to sign up with an address that already has an account.
pub fn sign_up_attempt_on_existing(ctx: &MailContext) -> Message {
    let url = ctx.link("/reset-password");
    render(
        ctx,
        "Someone tried to create a uni1 account with your address".into(),
        "Hello,",
        &["Someone, perhaps you, tried to create a new account with this e-mail address. You already have one, so nothing was created.".into(),
          "If it was you, sign in. If you forgot your password, you can choose a new one.".into()],
        Some(("Choose a new password", &url)),
    )
}

/// A link to choose a new password.
pub fn reset_password(ctx: &MailContext, name: &str, token: &str) -> Message {
    let url = ctx.link(&format!("/reset-password/new?token={token}"));
    render(
        ctx,
        "Choose a new uni1 password".into(),
        &format!("Hello {name},"),
        &["You asked to choose a new password. The link works for one hour and only once. Choosing a new password signs you out everywhere.".into(),
          "If you did not ask for this, ignore this mail: your password stays as it is.".into()],
        Some(("Choose a new password", &url)),
    )
}

/// The password was changed (sent after a reset).
pub fn password_changed(ctx: &MailContext, name: &str) -> Message {
    render(
        ctx,
        "Your uni1 password was changed".into(),
        &format!("Hello {name},"),
        &[
            "Your password was just changed and every session was signed out.".into(),
            format!(
                "If this was not you, reset your password now and write to {}.",
                ctx.operator_email
            ),
        ],
        Some(("Reset my password", &ctx.link("/reset-password"))),
    )
}

/// Images will stop being downloadable soon (sent to those who opted in).
pub fn expiry_reminder(
    ctx: &MailContext,
    name: &str,
    count: u64,
    first_day: &str,
    unsubscribe: &str,
) -> Message {
    let what = if count == 1 {
        "One of your images".to_owned()
    } else {
        format!("{count} of your images")
    };
    render_with(
        ctx,
        format!("{what} can be downloaded until {first_day}"),
        &format!("Hello {name},"),
        &[
            format!("{what} will reach the end of the download period in the coming days, the first on {first_day}. After that the files are deleted; your gallery keeps the settings."),
            "Download what you want to keep from your gallery (the filter \"From\"/\"To\" finds them by date).".into(),
        ],
        Some(("Open my gallery", &ctx.link("/gallery"))),
        Some((
            "You get this mail because you turned on expiry reminders (Settings → Notifications).",
            Some(unsubscribe),
        )),
    )
}

/// Confirm a new address (sent to the new address).
pub fn confirm_new_email(ctx: &MailContext, token: &str) -> Message {
    let url = ctx.link(&format!("/confirm-email-change?token={token}"));
    render(
        ctx,
        "Confirm your new e-mail address for uni1".into(),
        "Hello,",
        &["You asked to use this address for your uni1 account. The change happens when you open the link below; it works for 48 hours and only once.".into(),
          "If you did not ask for this, ignore this mail.".into()],
        Some(("Use this address", &url)),
    )
}

/// Tell the current address that a change was asked for.
pub fn email_change_requested(ctx: &MailContext, name: &str, new_email: &str) -> Message {
    render(
        ctx,
        "A change of your uni1 e-mail address was requested".into(),
        &format!("Hello {name},"),
        &[format!("Someone signed in to your account asked to change its e-mail address to {new_email}. Nothing changes until that address is confirmed."),
          format!("If this was not you, choose a new password now and write to {}.", ctx.operator_email)],
        Some(("Choose a new password", &ctx.link("/reset-password"))),
    )
}

/// Tell the old address that the change happened.
pub fn email_changed(ctx: &MailContext, name: &str, new_email: &str) -> Message {
    render(
        ctx,
        "Your uni1 e-mail address was changed".into(),
        &format!("Hello {name},"),
        &[format!("Your account now uses {new_email}. Mail about your account goes there from now on."),
          format!("If this was not you, write to {} at once.", ctx.operator_email)],
        None,
    )
}

/// Many wrong second-factor codes: two-factor sign-in is paused.
pub fn two_factor_paused(ctx: &MailContext, name: &str, minutes: i64) -> Message {
    render(
        ctx,
        "Many wrong two-factor codes for your uni1 account".into(),
        &format!("Hello {name},"),
        &[format!("Someone entered your password correctly, then many wrong two-factor codes. Signing in with a two-factor code is paused for {minutes} minutes."),
          format!("If this was not you, your password is known to someone else: choose a new one now, and write to {} if you need help.", ctx.operator_email)],
        Some(("Choose a new password", &ctx.link("/reset-password"))),
    )
}

/// Someone tried to move another account onto an address that has one.
pub fn address_in_use(ctx: &MailContext) -> Message {
    render(
        ctx,
        "Someone tried to use your address on uni1".into(),
        "Hello,",
        &["Someone asked to move another uni1 account to this e-mail address. It already belongs to your account, so nothing changed.".into()],
        None,
    )
}

/// The receipt of a paid order (MAIL-1), queued with the credits it grants.
pub fn receipt(
    ctx: &MailContext,
    name: &str,
    item: &str,
    price: &str,
    credits: i64,
    order: &str,
    paid_on: &str,
) -> Message {
    render(
        ctx,
        format!("Your receipt: {item}"),
        &format!("Hello {name},"),
        &[
            format!("Thank you for your purchase. {credits} credits are now in your account."),
            format!("{item}: {price}, paid on {paid_on}. Order {order}."),
            "The payment was handled by our payment provider, which may send its own receipt too; uni1 never sees your card.".into(),
        ],
        Some(("Open my billing page", &ctx.link("/billing"))),
    )
}

/// A data export is ready to download.
pub fn export_ready(ctx: &MailContext, name: &str, until: &str) -> Message {
    render(
        ctx,
        "Your uni1 data export is ready".into(),
        &format!("Hello {name},"),
        &[
            format!("The copy of your data you asked for is ready. Download it from Settings → Privacy while signed in, until {until}; then it is deleted."),
            "If you did not ask for it, sign in, end the sessions you do not know under Settings → Security, and change your password.".into(),
        ],
        Some(("Open my privacy settings", &ctx.link("/settings/privacy"))),
    )
}

/// The account will be deleted after the grace period.
pub fn deletion_scheduled(ctx: &MailContext, name: &str, on: &str) -> Message {
    render(
        ctx,
        format!("Your uni1 account will be deleted on {on}"),
        &format!("Hello {name},"),
        &[
            format!("You asked us to delete your uni1 account. It will be deleted on {on}, with your images, prompts and everything else we store about you, except the records of purchases the law requires us to keep (without your name or address)."),
            "Until then your account is read-only. Changed your mind? Sign in and cancel the deletion under Settings → Privacy.".into(),
            format!("If this was not you, sign in, cancel the deletion and change your password, and write to {}.", ctx.operator_email),
        ],
        Some(("Open my privacy settings", &ctx.link("/settings/privacy"))),
    )
}

/// The account was deleted (sent to the address it had; the mail's row is
/// removed once sent).
pub fn account_deleted(ctx: &MailContext) -> Message {
    render(
        ctx,
        "Your uni1 account was deleted".into(),
        "Hello,",
        &[
            "Your uni1 account was deleted as you asked: your images, prompts, uploads, sessions and settings are gone, and any plan was canceled.".into(),
            "We keep only the records of purchases the law requires (amounts and dates, without your name or address).".into(),
            "This is the last mail we send to this address.".into(),
        ],
        None,
    )
}

/// A personal-data breach that concerns the person (SEC-3): what
/// happened, what the operator does, what the person should do.
pub fn incident_notice(
    ctx: &MailContext,
    name: &str,
    title: &str,
    discovered: &str,
    what_happened: &str,
    what_we_do: &str,
    what_to_do: &str,
) -> Message {
    render(
        ctx,
        format!("Important: a security incident concerning your uni1 account ({title})"),
        &format!("Hello {name},"),
        &[
            format!("We are writing to tell you about a security incident that concerns your personal data. We discovered it on {discovered}."),
            format!("What happened: {what_happened}"),
            format!("What we are doing: {what_we_do}"),
            format!("What you should do: {what_to_do}"),
            format!("If you have questions, write to {} at {}.", ctx.operator_name, ctx.operator_email),
        ],
        Some(("Review your account's security", &ctx.link("/settings/security"))),
    )
}

/// A generation ended while no browser of the person watched it (sent to
/// those who opted in; carries the unsubscribe link).
pub fn generation_done(
    ctx: &MailContext,
    name: &str,
    succeeded: bool,
    images: u64,
    unsubscribe: &str,
) -> Message {
    let (subject, line) = if succeeded {
        let what = if images == 1 {
            "Your image is ready".to_owned()
        } else {
            format!("Your {images} images are ready")
        };
        (what.clone(), format!("{what}: the generation you started finished while you were away. They are in your gallery."))
    } else {
        (
            "Your generation did not finish".to_owned(),
            "The generation you started ended without an image while you were away. Its credits were returned; the studio shows why.".to_owned(),
        )
    };
    let (label, url) = if succeeded {
        ("Open my gallery", ctx.link("/gallery"))
    } else {
        ("Open the studio", ctx.link("/studio"))
    };
    render_with(
        ctx,
        subject,
        &format!("Hello {name},"),
        &[line],
        Some((label, &url)),
        Some((
            "You get this mail because you asked for one when a generation finishes while you are away (Settings → Notifications).",
            Some(unsubscribe),
        )),
    )
}

/// An operator's announcement. `kind` is `service`, `policy` or
/// `marketing`; `unsubscribe` is the link (none for a policy change, a
/// required notice).
pub fn announcement(
    ctx: &MailContext,
    name: &str,
    kind: &str,
    subject: &str,
    body: &str,
    unsubscribe: Option<&str>,
) -> Message {
    let paragraphs: Vec<String> = body
        .split("\n\n")
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    let why = match kind {
        "policy" => "This is a required notice about a change to our terms or privacy policy: it goes to every account and cannot be turned off.",
        "marketing" => "You get this mail because you agreed to product news and offers (Settings → Notifications).",
        _ => "You get this service update because you have a uni1 account (Settings → Notifications).",
    };
    render_with(
        ctx,
        subject.to_owned(),
        &format!("Hello {name},"),
        &paragraphs,
        None,
        Some((why, unsubscribe)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> MailContext {
        MailContext {
            base_url: "https://uni1.example/".into(),
            operator_name: "Op & Co".into(),
            operator_email: "op@uni1.example".into(),
        }
    }

    #[test]
    fn links_are_absolute_and_html_is_escaped() {
        let m = reset_password(&ctx(), "<script>Eve</script>", "tok123");
        assert!(m
            .text
            .contains("https://uni1.example/reset-password/new?token=tok123"));
        assert!(m.html.contains("&lt;script&gt;Eve&lt;/script&gt;"));
        assert!(!m.html.contains("<script>"));
        assert!(m.html.contains("Op &amp; Co"));
        assert!(m.text.contains("Op & Co"));
    }

    #[test]
    fn mails_to_unconfirmed_addresses_greet_without_a_name() {
        for m in [
            confirm_email(&ctx(), "tok123"),
            sign_up_attempt_on_existing(&ctx()),
            confirm_new_email(&ctx(), "tok123"),
        ] {
            assert!(m.text.starts_with("Hello,\n"), "{}", m.text);
            assert!(m.html.contains("<p>Hello,</p>"), "{}", m.html);
        }
    }
}
