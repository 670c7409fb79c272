//! Servers behind a login in the app: a job refused with `401` opens the sign-in dialog
//! naming the host and realm; Sign in runs the job again with the sign-in, and Remember
//! files it in the credential store (keyring-core's mock store here) and the list;
//! Settings lists it and Remove forgets it; Esc cancels. Then the same against nginx
//! asking for Basic auth, with the real engine. No password may reach the saved state.

use deltadrop::access::{SavedAccess, SecretKey};
use deltadrop::gui::persist::View;

use super::*;

const PASSWORD: &str = "s3cret-Pa55";

fn asks_for_sign_in(host: &str, signed_in: bool) -> Error {
    Error::Access {
        url: format!("http://{host}/nightly/image.img.zsync"),
        host: host.into(),
        status: 401,
        scheme: Some("Basic".into()),
        realm: Some("nightly builds".into()),
        signed_in,
    }
}

/// The app with a scripted engine, `store` and the list in `list`.
fn harness_with_store(
    runner: &FakeRunner,
    out: &Path,
    store: &SecretStore,
    list: &Path,
) -> Harness<'static, DeltadropApp> {
    let mut options = options(GuiArgs::default(), runner, out);
    options.access = AccessSetup::with(store.clone(), Some(list.to_path_buf()));
    harness_with(options)
}

/// Types into the text field labelled `field` (`Role::PasswordInput` for a masked one).
fn type_into(harness: &mut Harness<'static, DeltadropApp>, role: Role, field: &str, text: &str) {
    harness.get_by_role_and_label(role, field).click();
    harness.run();
    harness.get_by_role_and_label(role, field).type_text(text);
    harness.run();
}

/// Neither the app's saved state (settings, history, follows) nor the list holds it.
fn assert_nothing_saved_shows_the_password(app: &DeltadropApp, list: &Path) {
    let saved_state = ron::to_string(app.persisted()).unwrap();
    assert!(!saved_state.contains(PASSWORD), "{saved_state}");
    let list = std::fs::read_to_string(list).unwrap_or_default();
    assert!(!list.contains(PASSWORD), "{list}");
}

#[test]
fn a_401_asks_for_a_sign_in_which_is_remembered_used_listed_and_removed() {
    let out = tempfile::tempdir().unwrap();
    let list = out.path().join("config/access.json");
    let store = SecretStore::in_memory();
    let runner = FakeRunner::default();
    let mut harness = harness_with_store(&runner, out.path(), &store, &list);
    let job = start(
        &mut harness,
        &runner,
        "http://builds.example/nightly/image.img.zsync",
    );
    job.emit(Event::Finished(Err(asks_for_sign_in(
        "builds.example",
        false,
    ))));
    harness.run();

    assert!(has_text(&harness, "Sign in to builds.example"));
    assert!(has_text(&harness, "\u{201c}nightly builds\u{201d}"));
    type_into(&mut harness, Role::TextInput, "User", "tester");
    type_into(&mut harness, Role::PasswordInput, "Password", PASSWORD);
    harness.get_by_label("Sign in").click();
    harness.run();

    // The job runs again at once, with the sign-in for its host.
    assert_eq!(runner.count(), 2, "Sign in runs the job again");
    let retry = runner.job(1);
    assert_eq!(
        retry.spec.options.credentials,
        vec!["builds.example=tester:s3cret-Pa55".parse().unwrap()]
    );
    assert!(harness.state().sign_in_form().is_none());
    // Remembered: in the store, and the host and user in the list.
    let key = SecretKey::SignIn("builds.example".into());
    wait_for(&mut harness, "the sign-in saved", |h| {
        !h.state().saved_access().sign_ins.is_empty()
    });
    assert_eq!(store.get(&key).unwrap().unwrap().expose(), PASSWORD);
    assert_eq!(
        SavedAccess::load(&list).unwrap().user_for("builds.example"),
        Some("tester")
    );
    retry.emit(Event::Finished(Err(Error::Cancelled)));
    harness.run();
    assert_nothing_saved_shows_the_password(harness.state(), &list);

    // Settings lists it; Remove forgets it in the store and the list.
    harness
        .state_mut()
        .push_command(Command::ShowView(View::Settings));
    harness.run();
    harness.step();
    assert!(has_text(&harness, "builds.example: tester"));
    harness.get_by_label("Remove").click();
    wait_for(&mut harness, "the sign-in removed", |h| {
        h.state().saved_access().sign_ins.is_empty()
    });
    assert_eq!(store.get(&key).unwrap(), None);
    assert!(SavedAccess::load(&list).unwrap().sign_ins.is_empty());
    assert!(!has_text(&harness, "builds.example: tester"));
}

#[test]
fn esc_cancels_the_sign_in_and_a_refused_one_shows_the_engines_message() {
    let out = tempfile::tempdir().unwrap();
    let list = out.path().join("access.json");
    let store = SecretStore::in_memory();
    let runner = FakeRunner::default();
    let mut harness = harness_with_store(&runner, out.path(), &store, &list);
    let job = start(
        &mut harness,
        &runner,
        "http://builds.example/nightly/image.img.zsync",
    );
    let refused = asks_for_sign_in("builds.example", true);
    job.emit(Event::Finished(Err(refused.clone())));
    harness.run();
    assert!(
        has_text(&harness, &refused.to_string()),
        "the engine's message"
    );
    harness.key_press(egui::Key::Escape);
    harness.run();
    assert!(harness.state().sign_in_form().is_none());
    assert!(!has_text(&harness, "Sign in to builds.example"));
    assert_eq!(runner.count(), 1, "nothing runs again");
    assert_eq!(
        store
            .get(&SecretKey::SignIn("builds.example".into()))
            .unwrap(),
        None
    );
    assert!(!list.exists(), "nothing saved");
}

#[test]
fn a_password_typed_in_the_url_goes_to_the_store_not_to_the_follow() {
    let out = tempfile::tempdir().unwrap();
    let list = out.path().join("access.json");
    let store = SecretStore::in_memory();
    let runner = FakeRunner::default();
    let mut harness = harness_with_store(&runner, out.path(), &store, &list);
    type_url(
        &mut harness,
        &format!("http://tester:{PASSWORD}@builds.example/latest/image.img.zsync"),
    );
    harness.get_by_label("Keep this up to date").click();
    harness.run();
    harness.get_by_label("Start download").click();
    harness.run();
    let job = runner.job(0);
    let url = "http://builds.example/latest/image.img.zsync";
    assert_eq!(job.spec.control, ControlSource::Url(url.into()));
    assert_eq!(job.spec.options.credentials[0].password, PASSWORD);
    assert_eq!(harness.state().persisted().follows[0].url, url);
    assert_sign_in_saved(&mut harness, &store, "builds.example");
    assert_nothing_saved_shows_the_password(harness.state(), &list);
}

#[test]
fn signing_in_to_nginx_downloads_with_the_real_engine() {
    let content = deltadrop_tests::text_bytes(200_000, 71);
    let Some((www, _)) = deltadrop_tests::publish("f.txt", &content, &["-u", "f.txt"]) else {
        return;
    };
    let Some((extra, _htpasswd)) =
        deltadrop_tests::basic_auth("nightly builds", "tester", PASSWORD)
    else {
        return;
    };
    let Some(server) = deltadrop_tests::nginx(www.path(), None, &extra) else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let list = out.path().join("access.json");
    let store = SecretStore::in_memory();
    let mut opts = StartOptions::new(GuiArgs::default(), out.path().to_path_buf());
    opts.probe_clipboard = false;
    opts.desktop = Arc::new(FakeDesktop::default());
    opts.access = AccessSetup::with(store.clone(), Some(list.clone()));
    let mut harness = harness_with(opts);
    type_url(&mut harness, &server.url("f.txt.zsync"));
    harness.get_by_label("Start download").click();
    wait_for(&mut harness, "the sign-in dialog", |h| {
        h.state().sign_in_form().is_some()
    });
    assert!(has_text(&harness, "Sign in to 127.0.0.1"));
    assert!(has_text(&harness, "\u{201c}nightly builds\u{201d}"));
    type_into(&mut harness, Role::TextInput, "User", "tester");
    type_into(&mut harness, Role::PasswordInput, "Password", PASSWORD);
    harness.key_press(egui::Key::Enter);
    wait_for(&mut harness, "the download", |h| {
        h.state().run().is_some_and(|r| r.view.summary().is_some())
    });
    assert!(deltadrop_tests::read(&out.path().join("f.txt")) == content);
    assert_sign_in_saved(&mut harness, &store, "127.0.0.1");
    assert_nothing_saved_shows_the_password(harness.state(), &list);
}

#[test]
fn without_a_credential_store_the_sign_in_is_used_for_the_session_and_that_is_said() {
    let out = tempfile::tempdir().unwrap();
    let list = out.path().join("access.json");
    let store = SecretStore::unavailable("no Secret Service answers on the session bus");
    let runner = FakeRunner::default();
    let mut harness = harness_with_store(&runner, out.path(), &store, &list);
    let job = start(
        &mut harness,
        &runner,
        "http://builds.example/nightly/image.img.zsync",
    );
    job.emit(Event::Finished(Err(asks_for_sign_in(
        "builds.example",
        false,
    ))));
    harness.run();
    type_into(&mut harness, Role::TextInput, "User", "tester");
    type_into(&mut harness, Role::PasswordInput, "Password", PASSWORD);
    harness.get_by_label("Sign in").click();
    harness.run();
    assert_eq!(runner.job(1).spec.options.credentials[0].password, PASSWORD);
    let said = "the system's credential store is not available: no Secret Service answers \
                on the session bus; the sign-in for builds.example is used for this session only";
    wait_for(&mut harness, "the store's failure said", |h| {
        has_text(h, said)
    });
    assert!(!list.exists(), "the list names only what the store holds");
    // Settings shows it, for this session.
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num4);
    harness.run();
    harness.step();
    assert!(has_text(
        &harness,
        "builds.example: tester (this session only)"
    ));
}

#[test]
fn the_proxys_407_asks_for_its_user_and_password_which_go_into_its_url() {
    let out = tempfile::tempdir().unwrap();
    let list = out.path().join("access.json");
    let store = SecretStore::in_memory();
    let runner = FakeRunner::default();
    let mut harness = harness_with_store(&runner, out.path(), &store, &list);
    harness
        .state_mut()
        .push_command(Command::ShowView(View::Settings));
    harness.run();
    harness.step();
    type_into(&mut harness, Role::TextInput, "Proxy", "proxy.corp:3128");
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num1);
    harness.run();
    harness.step();
    let job = start(
        &mut harness,
        &runner,
        "http://builds.example/image.img.zsync",
    );
    assert_eq!(job.spec.options.proxy.as_deref(), Some("proxy.corp:3128"));
    job.emit(Event::Finished(Err(Error::Access {
        url: "http://builds.example/image.img.zsync".into(),
        host: "proxy.corp".into(),
        status: 407,
        scheme: Some("Basic".into()),
        realm: Some("corp proxy".into()),
        signed_in: true,
    })));
    harness.run();
    assert!(has_text(&harness, "Sign in to the proxy proxy.corp"));
    type_into(&mut harness, Role::TextInput, "User", "me");
    type_into(&mut harness, Role::PasswordInput, "Password", "p@ss:word");
    harness.get_by_label("Sign in").click();
    harness.run();
    assert_eq!(
        runner.job(1).spec.options.proxy.as_deref(),
        Some("http://me:p%40ss%3Aword@proxy.corp:3128/")
    );
    assert_eq!(harness.state().persisted().settings.proxy_user, "me");
    wait_for(&mut harness, "the proxy's password saved", |_| {
        store
            .get(&SecretKey::Proxy("proxy.corp".into()))
            .unwrap()
            .is_some()
    });
    let saved_state = ron::to_string(harness.state().persisted()).unwrap();
    assert!(!saved_state.contains("p@ss"), "{saved_state}");
}

#[test]
fn a_preset_saves_the_token_in_the_header_its_server_wants() {
    let out = tempfile::tempdir().unwrap();
    let list = out.path().join("access.json");
    let store = SecretStore::in_memory();
    let runner = FakeRunner::default();
    let mut harness = harness_with_store(&runner, out.path(), &store, &list);
    harness
        .state_mut()
        .push_command(Command::ShowView(View::Settings));
    harness.run();
    harness.step();
    type_into(&mut harness, Role::TextInput, "Host", "gitlab.example");
    harness.get_by_label("Server").click();
    harness.run();
    harness.get_by_label("GitLab").click();
    harness.run();
    assert!(has_text(&harness, "Sets PRIVATE-TOKEN."));
    type_into(
        &mut harness,
        Role::PasswordInput,
        "Token",
        "glpat-Secret123",
    );
    harness.get_by_label("Add header").click();
    harness.run();
    wait_for(&mut harness, "the header saved", |h| {
        !h.state().saved_access().headers.is_empty()
    });
    assert!(has_text(
        &harness,
        "gitlab.example: PRIVATE-TOKEN: (in the credential store)"
    ));
    let key = SecretKey::Header {
        host: "gitlab.example".into(),
        name: "PRIVATE-TOKEN".into(),
    };
    assert_eq!(
        store.get(&key).unwrap().unwrap().expose(),
        "glpat-Secret123"
    );
    let listed = std::fs::read_to_string(&list).unwrap();
    assert!(!listed.contains("glpat"), "{listed}");
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Num1);
    harness.run();
    harness.step();
    let job = start(
        &mut harness,
        &runner,
        "https://gitlab.example/api/v4/x.zsync",
    );
    let headers: Vec<_> = job
        .spec
        .options
        .headers
        .iter()
        .map(|h| (h.host.as_str(), h.name.as_str(), h.value.as_str()))
        .collect();
    assert_eq!(
        headers,
        [("gitlab.example", "PRIVATE-TOKEN", "glpat-Secret123")]
    );
}

/// Waits until the app lists a saved sign-in, then checks the store holds `host`'s password.
fn assert_sign_in_saved(
    harness: &mut Harness<'static, DeltadropApp>,
    store: &SecretStore,
    host: &str,
) {
    wait_for(harness, "the sign-in saved", |h| {
        !h.state().saved_access().sign_ins.is_empty()
    });
    let saved = store.get(&SecretKey::SignIn(host.into())).unwrap().unwrap();
    assert_eq!(saved.expose(), PASSWORD);
}
