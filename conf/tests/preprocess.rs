//! keepalived.conf syntax: comments, quotes, continuations, conditionals, variables,
//! includes, block shapes and synonyms, each checked by what it becomes in the model.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed set-up step should fail the test

use std::path::PathBuf;
use tandem_conf::{Config, Options, Report, load, load_str};

fn read(text: &str) -> Config {
    read_as(text, None).config
}

fn read_as(text: &str, config_id: Option<&str>) -> Report {
    let r =
        load_str(text, "keepalived.conf", &Options { config_id: config_id.map(str::to_string), ..Options::default() });
    assert!(r.diagnostics.is_empty(), "{}", r.render());
    r
}

fn instance(body: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {{\n        10.0.0.1\n    }}\n{body}}}\n"
    )
}

#[test]
fn comments_with_hash_and_bang_anywhere_outside_quotes() {
    let c = read(&format!(
        "# leading\n! also leading\nvrrp_script chk {{   # after a brace\n    script \"/bin/echo #not-a-comment !nor-this\" ! trailing\n}}\n{}",
        instance("")
    ));
    assert_eq!(c.vrrp_scripts[0].script, "/bin/echo #not-a-comment !nor-this");
}

#[test]
fn escaped_comment_character_is_kept() {
    let c = read("global_defs {\n    router_id lvs\\#1\n}\n");
    assert_eq!(c.global_defs.router_id.as_deref(), Some("lvs#1"));
}

#[test]
fn quoted_strings_keep_spaces_and_unquoted_commands_take_the_rest_of_the_line() {
    let c = read(&instance(
        "    notify_master \"/usr/local/bin/notify.sh master  two-spaces\"\n    notify_backup /usr/local/bin/notify.sh backup now\n",
    ));
    assert_eq!(c.vrrp_instances[0].notify.master.as_deref(), Some("/usr/local/bin/notify.sh master  two-spaces"));
    assert_eq!(c.vrrp_instances[0].notify.backup.as_deref(), Some("/usr/local/bin/notify.sh backup now"));
}

#[test]
fn trailing_backslash_continues_the_line() {
    let c = read(&instance("    notify_fault /bin/logger \\\n        fault happened\n"));
    assert_eq!(c.vrrp_instances[0].notify.fault.as_deref(), Some("/bin/logger fault happened"));
}

#[test]
fn conditionals_keep_lines_for_the_matching_id_only() {
    let text = instance("@lb1 priority 150\n@^lb1 priority 50\n@lb2 state MASTER\n");
    let one = read_as(&text, Some("lb1")).config;
    assert_eq!(one.vrrp_instances[0].priority, 150);
    assert_eq!(one.vrrp_instances[0].state, tandem_conf::InitialState::Backup);
    let two = read_as(&text, Some("lb2")).config;
    assert_eq!(two.vrrp_instances[0].priority, 50);
    assert_eq!(two.vrrp_instances[0].state, tandem_conf::InitialState::Master);
    // With no config id, `@ID` lines are dropped and `@^ID` lines kept, and that is said:
    // every line meant for a director is gone.
    let none = load_str(&text, "keepalived.conf", &Options::default());
    assert_eq!(none.config.vrrp_instances[0].priority, 50);
    let other = load_str(&text, "keepalived.conf", &Options { config_id: Some("lb3".into()), ..Options::default() });
    for (r, id) in [(&none, "none"), (&other, "`lb3`")] {
        assert_eq!(r.diagnostics.len(), 1, "{}", r.render());
        let d = &r.diagnostics[0];
        assert_eq!(
            d.message,
            format!("no `@ID` line is for config id {id}: the lines for `lb1`, `lb2` are all left out"),
            "{}",
            r.render()
        );
        assert_eq!(d.severity, tandem_conf::Severity::Warning);
        let loc = r.location(d).expect("located");
        assert_eq!((loc.line, loc.column), (7, 1), "the first `@lb1` line");
    }
}

#[test]
fn conditional_columns_point_into_the_original_line() {
    let text = instance("@lb1    priority 300\n");
    let r = load_str(&text, "k.conf", &Options { config_id: Some("lb1".into()), ..Options::default() });
    let loc = r.location(&r.diagnostics[0]).expect("located");
    assert_eq!((loc.line, loc.column), (7, 18));
}

#[test]
fn variables_expand_plain_and_braced_and_can_be_redefined() {
    let c = read(
        "$VIP=10.1.1.1\n$PORT = 443\n$VIP_LIST=10.0.0.5/24 dev eth1\nvrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {\n        ${VIP}/32\n        $VIP_LIST\n    }\n}\nvirtual_server $VIP $PORT {\n    protocol TCP\n}\n$PORT=8443\nvirtual_server ${VIP} ${PORT} {\n    protocol TCP\n}\n",
    );
    let i = &c.vrrp_instances[0];
    assert_eq!(i.virtual_ipaddress[0].address.to_string(), "10.1.1.1");
    assert_eq!(i.virtual_ipaddress[1].address.to_string(), "10.0.0.5");
    assert_eq!(i.virtual_ipaddress[1].prefix, 24);
    assert_eq!(i.virtual_ipaddress[1].dev.as_deref(), Some("eth1"));
    assert_eq!(c.virtual_servers[0].port, Some(443));
    assert_eq!(c.virtual_servers[1].port, Some(8443));
}

#[test]
fn an_error_in_an_expanded_variable_points_at_the_reference() {
    let r = load_str(
        &("$ID=999\n".to_string() + &instance("").replace("virtual_router_id 51", "virtual_router_id $ID")),
        "k.conf",
        &Options::default(),
    );
    let loc = r.location(&r.diagnostics[0]).expect("located");
    assert_eq!(r.diagnostics[0].message, "virtual_router_id 999 is out of range 1-255");
    assert_eq!((loc.line, loc.column), (4, 23));
}

#[test]
fn an_unknown_variable_is_left_as_written() {
    let c = read(&instance("    notify \"/bin/echo $HOME\"\n"));
    assert_eq!(c.vrrp_instances[0].notify.any.as_deref(), Some("/bin/echo $HOME"));
}

#[test]
fn one_line_blocks_and_brace_on_the_next_line() {
    let c = read(
        "vrrp_script chk { script /bin/true }\nvrrp_instance VI_1\n{\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress { 10.0.0.1/24 10.0.0.2/24 }\n    track_script { chk }\n    unicast_peer { 10.0.0.8 10.0.0.9 }\n    authentication { auth_type PASS\n auth_pass secret }\n}\n",
    );
    assert_eq!(c.vrrp_scripts[0].script, "/bin/true");
    let i = &c.vrrp_instances[0];
    assert_eq!(i.virtual_ipaddress.iter().map(|a| a.address.to_string()).collect::<Vec<_>>(), ["10.0.0.1", "10.0.0.2"]);
    assert_eq!(i.track_script[0].name, "chk");
    assert_eq!(i.unicast_peer.iter().map(|p| p.address.to_string()).collect::<Vec<_>>(), ["10.0.0.8", "10.0.0.9"]);
    assert_eq!(i.authentication.as_ref().map(|a| a.auth_pass.as_str()), Some("secret"));
}

#[test]
fn synonyms_map_to_one_field() {
    let a = read(
        "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lb_algo rr\n    lb_kind DR\n    real_server 10.0.1.1 80 {\n        HTTP_GET {\n            url {\n                path /\n            }\n            retry 4\n        }\n    }\n}\n",
    );
    let b = load_str(
        "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lvs_sched rr\n    lvs_method DR\n    real_server 10.0.1.1 80 {\n        HTTP_GET {\n            url {\n                path /\n            }\n            nb_get_retry 4\n        }\n    }\n}\n",
        "k.conf",
        &Options::default(),
    );
    assert!(b.diagnostics.is_empty(), "{}", b.render());
    assert_eq!(a, b.config);
    assert_eq!(a.virtual_servers[0].lb_algo, "rr");
    assert_eq!(a.virtual_servers[0].lb_kind, tandem_conf::ForwardMethod::Dr);
    assert_eq!(a.virtual_servers[0].real_servers[0].checks[0].common().retry, Some(4));
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tandem-pre-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("conf.d")).expect("temp dir");
    dir
}

#[test]
fn include_globs_resolve_against_the_including_file_in_name_order() {
    let dir = temp_dir("glob");
    let main = dir.join("keepalived.conf");
    std::fs::write(&main, "global_defs {\n    router_id main\n}\ninclude conf.d/*.conf\n").expect("write");
    // Written out of order: the glob is read sorted.
    std::fs::write(dir.join("conf.d/20-b.conf"), "virtual_server 10.0.0.2 80 {\n    protocol TCP\n}\n").expect("write");
    std::fs::write(
        dir.join("conf.d/10-a.conf"),
        "virtual_server 10.0.0.1 80 {\n    protocol TCP\n}\ninclude ../more/x.conf\n",
    )
    .expect("write");
    std::fs::create_dir_all(dir.join("more")).expect("mkdir");
    // Relative to the file that includes it (conf.d/), not to the main file.
    std::fs::write(dir.join("more/x.conf"), "virtual_server 10.0.0.3 80 {\n    protocol TCP\n}\n").expect("write");
    std::fs::write(dir.join("conf.d/ignored.txt"), "garbage {").expect("write");
    let r = load(&main, &Options::default());
    assert!(r.diagnostics.is_empty(), "{}", r.render());
    let ips: Vec<String> = r.config.virtual_servers.iter().filter_map(|v| v.ip.map(|i| i.to_string())).collect();
    assert_eq!(ips, ["10.0.0.1", "10.0.0.3", "10.0.0.2"]);
    assert_eq!(r.sources.files().len(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_glob_matching_nothing_is_a_warning() {
    let dir = temp_dir("empty");
    let main = dir.join("keepalived.conf");
    std::fs::write(&main, "include conf.d/*.conf\n").expect("write");
    let r = load(&main, &Options::default());
    assert!(!r.has_errors());
    assert_eq!(r.diagnostics.len(), 1);
    assert_eq!(r.diagnostics[0].message, "`include conf.d/*.conf` matches no file");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn format_is_chosen_by_extension_or_forced() {
    let toml = "[global_defs]\nrouter_id = \"x\"\n";
    let r = load_str(toml, "tandem.toml", &Options::default());
    assert!(r.diagnostics.is_empty(), "{}", r.render());
    assert_eq!(r.config.global_defs.router_id.as_deref(), Some("x"));
    // The same text read as keepalived.conf is nonsense, and says so.
    let k = load_str(toml, "tandem.conf", &Options::default());
    assert!(!k.diagnostics.is_empty());
    let forced =
        load_str(toml, "tandem.conf", &Options { format: Some(tandem_conf::Format::Toml), ..Options::default() });
    assert!(forced.diagnostics.is_empty(), "{}", forced.render());
}
