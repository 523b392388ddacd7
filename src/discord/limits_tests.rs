use super::*;
use crate::discord::message::{Button, ButtonStyle, Embed, FileUpload};

fn button(id: &str, label: &str) -> Button {
    Button {
        custom_id: id.into(),
        label: label.into(),
        emoji: None,
        style: ButtonStyle::Primary,
        disabled: false,
    }
}

fn embed() -> Embed {
    Embed {
        title: Some("title".into()),
        description: Some("description".into()),
        footer: Some("footer".into()),
        ..Default::default()
    }
    .field("name", "value", true)
}

fn valid() -> Rendered {
    Rendered {
        content: Some("hello".into()),
        embeds: vec![embed()],
        components: vec![vec![button("a:1", "One"), button("a:2", "Two")]],
        ..Default::default()
    }
}

/// Each case breaks one limit of an otherwise valid message.
fn broken() -> Vec<(&'static str, Rendered)> {
    let with = |f: &dyn Fn(&mut Rendered)| {
        let mut m = valid();
        f(&mut m);
        m
    };
    vec![
        (
            "content",
            with(&|m| m.content = Some("é".repeat(CONTENT_MAX + 1))),
        ),
        (
            "embeds[0].title",
            with(&|m| m.embeds[0].title = Some("t".repeat(EMBED_TITLE_MAX + 1))),
        ),
        (
            "embeds[0].description",
            with(&|m| m.embeds[0].description = Some("d".repeat(EMBED_DESCRIPTION_MAX + 1))),
        ),
        (
            "embeds[0].footer.text",
            with(&|m| m.embeds[0].footer = Some("f".repeat(EMBED_FOOTER_MAX + 1))),
        ),
        (
            "embeds[0].fields[0].name",
            with(&|m| m.embeds[0].fields[0].name = "n".repeat(EMBED_FIELD_NAME_MAX + 1)),
        ),
        (
            "embeds[0].fields[0].value",
            with(&|m| m.embeds[0].fields[0].value = "v".repeat(EMBED_FIELD_VALUE_MAX + 1)),
        ),
        (
            "embeds[0].fields[0].value",
            with(&|m| m.embeds[0].fields[0].value = " ".into()),
        ),
        (
            "embeds[0].fields",
            with(&|m| {
                for i in 0..EMBED_FIELDS_MAX {
                    m.embeds[0] = m.embeds[0].clone().field(&format!("f{i}"), "v", true);
                }
            }),
        ),
        (
            "embeds (title",
            with(&|m| {
                m.embeds[0].description = Some("d".repeat(4000));
                m.embeds.push(Embed {
                    description: Some("d".repeat(4000)),
                    ..Default::default()
                });
            }),
        ),
        (
            "embeds",
            with(&|m| m.embeds = vec![embed(); EMBEDS_MAX + 1]),
        ),
        (
            "components (action rows)",
            with(&|m| {
                m.components = (0..6)
                    .map(|r| vec![button(&format!("r:{r}"), "x")])
                    .collect()
            }),
        ),
        (
            "components[0] (buttons)",
            with(&|m| {
                m.components = vec![(0..6).map(|b| button(&format!("b:{b}"), "x")).collect()]
            }),
        ),
        (
            "components[0].components[0].label",
            with(&|m| m.components[0][0].label = "l".repeat(BUTTON_LABEL_MAX + 1)),
        ),
        (
            "components[0].components[0].custom_id",
            with(&|m| m.components[0][0].custom_id = "c".repeat(CUSTOM_ID_MAX + 1)),
        ),
        (
            "components[0].components[1].custom_id",
            with(&|m| m.components[0][1].custom_id = "a:1".into()),
        ),
        (
            "message",
            with(&|m| {
                m.content = Some(String::new());
                m.embeds.clear();
            }),
        ),
    ]
}

#[test]
fn a_valid_message_passes_and_fit_leaves_it_alone() {
    assert_eq!(check(&valid()), Ok(()));
    assert_eq!(fit(valid()), valid());
    assert_eq!(enforce(valid()), valid());
    // Exactly at every limit is still within it.
    let mut full = valid();
    full.content = Some("🚀".repeat(CONTENT_MAX));
    full.embeds[0].title = Some("t".repeat(EMBED_TITLE_MAX));
    full.embeds[0].description = Some("d".repeat(EMBED_DESCRIPTION_MAX));
    assert_eq!(check(&full), Ok(()));
}

#[test]
fn each_broken_limit_is_named_and_fit_repairs_it() {
    for (what, message) in broken() {
        let found = check(&message).expect_err(what);
        assert!(
            found.iter().any(|v| v.to_string().starts_with(what)),
            "{what}: {found:?}"
        );
        let fitted = fit(message.clone());
        assert_eq!(check(&fitted), Ok(()), "{what} after fit");
        assert_eq!(enforce(message), fitted);
    }
}

#[test]
fn fit_keeps_what_fits_and_drops_only_what_cannot_be_cut() {
    let mut m = valid();
    m.components[0].push(button(&"x".repeat(CUSTOM_ID_MAX + 1), "long id"));
    m.content = Some("c".repeat(3000));
    let fitted = fit(m);
    assert_eq!(fitted.content.as_deref().map(chars), Some(CONTENT_MAX));
    assert!(fitted.content.as_deref().unwrap().ends_with('…'));
    let ids: Vec<&str> = fitted.components[0]
        .iter()
        .map(|b| b.custom_id.as_str())
        .collect();
    assert_eq!(ids, ["a:1", "a:2"]);
    // A message of only a file is not empty.
    let file_only = Rendered {
        files: vec![FileUpload {
            name: "chart.png".into(),
            bytes: vec![1],
        }],
        ..Default::default()
    };
    assert_eq!(check(&file_only), Ok(()));
}

#[test]
fn thread_names_are_one_to_a_hundred_characters() {
    assert_eq!(check_thread_name("Feedback: checkout v1"), Ok(()));
    assert!(check_thread_name("").is_err());
    assert!(check_thread_name(&"n".repeat(NAME_MAX + 1)).is_err());
    assert_eq!(thread_name(&"n".repeat(300), "x").chars().count(), NAME_MAX);
    assert_eq!(thread_name("  ", "Feedback"), "Feedback");
    assert_eq!(
        check_thread_name(&thread_name(&"é".repeat(500), "x")),
        Ok(())
    );
}
