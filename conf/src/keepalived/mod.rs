//! The keepalived.conf reader: preprocess and tokenize ([`lexer`]), group into statements
//! ([`tree`]), then map statements onto the model (one module per part of the file), a chunk
//! of top-level statements at a time.
//!
//! Unknown keywords are warnings, as in keepalived; bad values are errors.

mod check;
mod global;
mod keywords;
pub(crate) mod lexer;
mod lvs;
mod route;
pub(crate) mod tree;
mod unsupported;
mod values;
mod vrrp;

use crate::diag::{Diagnostic, SourceMap, Sources};
use crate::model::Config;
use std::path::{Path, PathBuf};
use tree::Stmt;
use values::Ctx;

/// Reads a keepalived.conf from disk (with its includes).
pub(crate) fn read_file(
    path: &Path,
    config_id: &str,
    sources: &mut Sources,
    diags: &mut Vec<Diagnostic>,
    map: &mut SourceMap,
) -> Config {
    let mut c = Config::default();
    let mut prio = route::RulePriorities::default();
    let mut sink = |stmts: Vec<Stmt>, diags: &mut Vec<Diagnostic>| build(&mut c, &stmts, diags, map, &mut prio);
    let mut lx = lexer::Lexer::new(sources, diags, config_id, &mut sink);
    lx.file(path, None);
    lx.finish();
    c
}

/// Reads keepalived.conf text; includes resolve against `path`'s folder.
pub(crate) fn read_str(
    text: &str,
    path: PathBuf,
    config_id: &str,
    sources: &mut Sources,
    diags: &mut Vec<Diagnostic>,
    map: &mut SourceMap,
) -> Config {
    let mut c = Config::default();
    let mut prio = route::RulePriorities::default();
    let mut sink = |stmts: Vec<Stmt>, diags: &mut Vec<Diagnostic>| build(&mut c, &stmts, diags, map, &mut prio);
    let mut lx = lexer::Lexer::new(sources, diags, config_id, &mut sink);
    lx.text(path, text.to_string());
    lx.finish();
    c
}

/// Maps top-level statements onto the model (a chunk of the file at a time).
fn build(
    c: &mut Config,
    stmts: &[Stmt],
    diags: &mut Vec<Diagnostic>,
    map: &mut SourceMap,
    rule_priorities: &mut route::RulePriorities,
) {
    let mut cx = Ctx { diags, map, rule_priorities };
    top(&mut cx, c, stmts);
}

fn top(cx: &mut Ctx, c: &mut Config, stmts: &[Stmt]) {
    for st in stmts {
        match st.keyword.text.as_str() {
            "net_namespace" => {
                cx.at("net_namespace", st);
                c.net_namespace = cx.word(st, "a network namespace name");
            }
            "global_defs" => {
                cx.extra(st, 0);
                let block = cx.block(st);
                global::read(cx, block, &mut c.global_defs);
            }
            "static_ipaddress" => {
                cx.extra(st, 0);
                let addrs = vrrp::addresses(cx, st, "static_ipaddress");
                c.static_ipaddress.extend(addrs);
            }
            "static_routes" => {
                cx.extra(st, 0);
                let routes = route::routes(cx, st, "static_routes", true);
                c.static_routes.extend(routes);
            }
            "static_rules" => {
                cx.extra(st, 0);
                let rules = route::rules(cx, st, "static_rules", true);
                c.static_rules.extend(rules);
            }
            "vrrp_script" => {
                let path = format!("vrrp_script[{}]", c.vrrp_scripts.len());
                if let Some(s) = vrrp::script(cx, st, &path) {
                    c.vrrp_scripts.push(s);
                }
            }
            "track_file" | "vrrp_track_file" => {
                let path = format!("track_file[{}]", c.track_files.len());
                if let Some(s) = vrrp::track_file(cx, st, &path) {
                    c.track_files.push(s);
                }
            }
            "vrrp_track_process" => {
                let path = format!("vrrp_track_process[{}]", c.vrrp_track_processes.len());
                if let Some(t) = vrrp::track_process(cx, st, &path) {
                    c.vrrp_track_processes.push(t);
                }
            }
            "vrrp_sync_group" => {
                let path = format!("vrrp_sync_group[{}]", c.vrrp_sync_groups.len());
                if let Some(g) = vrrp::sync_group(cx, st, &path) {
                    c.vrrp_sync_groups.push(g);
                }
            }
            "vrrp_instance" => {
                let path = format!("vrrp_instance[{}]", c.vrrp_instances.len());
                if let Some(i) = vrrp::instance(cx, st, &path) {
                    c.vrrp_instances.push(i);
                }
            }
            "virtual_server_group" => {
                let path = format!("virtual_server_group[{}]", c.virtual_server_groups.len());
                if let Some(g) = lvs::group(cx, st, &path) {
                    c.virtual_server_groups.push(g);
                }
            }
            "virtual_server" => {
                let path = cx.path(|| format!("virtual_server[{}]", c.virtual_servers.len()));
                if let Some(v) = lvs::virtual_server(cx, st, &path) {
                    c.virtual_servers.push(v);
                }
            }
            _ => cx.unknown(st, "-"),
        }
    }
}

/// The name of a named block (`vrrp_instance NAME {`), recording where it is.
fn block_name(cx: &mut Ctx, st: &Stmt, path: &str) -> Option<String> {
    let name = cx.arg(st, 0, "a name")?.text.to_string();
    cx.extra(st, 1);
    cx.map.set(path, st.span());
    cx.map.set(format!("{path}.name"), st.args[0].span);
    Some(name)
}
