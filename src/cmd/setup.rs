//! `key`, `cameras` and `control-sheet`: setting a station up.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use packwitness::config::Config;
use packwitness::log::note::StationKey;

pub fn key(
    data_dir: Option<PathBuf>,
    config: &Config,
    rotate: bool,
    backed_up: bool,
) -> Result<ExitCode> {
    let dir = data_dir.or_else(|| config.data_dir.clone()).context(
        "no data dir: pass --data-dir DIR (the key lives in it), or set data_dir in the config",
    )?;
    packwitness::datadir::create(&dir)?;
    if rotate {
        let mut w = match packwitness::recorder::Writer::open(
            &dir,
            config,
            packwitness::clock::RealClock::shared(),
        ) {
            Ok(w) => w,
            Err(e) if e.kind() == packwitness::ErrorKind::Conflict => {
                bail!(
                    "a recording packwitness holds {}; stop it to rotate the key",
                    dir.display()
                )
            }
            Err(e) => return Err(e.into()),
        };
        let (old, new) = w.rotate_key(config)?;
        out!("{new}");
        eprintln!("(the key {old} signed the rotation to the key above; publish it)");
        return Ok(ExitCode::SUCCESS);
    }
    let path = packwitness::datadir::key_path(&dir, &config.ledger.key_file);
    if backed_up && !path.exists() {
        bail!(
            "no key at {} yet: it is made at the first start (or by `packwitness key`); back it up then",
            path.display()
        );
    }
    let key = StationKey::for_data_dir(&dir, config)?;
    out!("{}", key.verifier());
    if backed_up {
        let at = packwitness::clock::now_string(&packwitness::clock::RealClock::new());
        packwitness::datadir::record_key_backup(&path, &key.verifier(), &at)
            .with_context(|| format!("recording the backup beside {}", path.display()))?;
        eprintln!(
            "(recorded: the key {} was backed up, {at}. The copy belongs offline, never on this PC or its data disk; after a key rotation, back the new key up and confirm again)",
            path.display()
        );
    } else {
        eprintln!(
            "(private key: {}; keep it secret, publish the line above; copy it to an offline place, then confirm with `packwitness key --backed-up`)",
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn control_sheet(config: &Config, output: &Path) -> Result<ExitCode> {
    // The control codes are the same for every station of a config.
    let ids: Vec<&str> = config.stations.iter().map(|s| s.id.as_str()).collect();
    let page = packwitness::codes::sheet::html(&config.codes, &ids.join(", "))
        .map_err(anyhow::Error::msg)?;
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            bail!(
                "cannot write {}: directory {} does not exist",
                output.display(),
                parent.display()
            );
        }
    }
    std::fs::write(output, page)
        .with_context(|| format!("writing the control sheet to {}", output.display()))?;
    let n = packwitness::codes::sheet::labels(&config.codes).len();
    out!(
        "wrote {} ({n} barcodes: stop, cancel, next box and {} operator badges); print it at 100% scale",
        output.display(),
        n - 3
    );
    Ok(ExitCode::SUCCESS)
}

/// Run as root on a data dir that belongs to another user (the service's, as the package sets
/// it up), or on a new one inside a folder of that user: become that user before anything is
/// read or made, so that every file made (records, index, tiles, the key, users.json) stays
/// readable and writable by the service, and doctor sees what the service would see. Files
/// given with `-o` are then written as that user too.
pub fn become_data_dir_owner(dir: Option<&PathBuf>) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid only reads the process's credentials.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    let Some(dir) = dir else { return Ok(()) };
    let Some(meta) = dir
        .metadata()
        .ok()
        .or_else(|| dir.parent()?.metadata().ok())
    else {
        return Ok(());
    };
    let (uid, gid) = (meta.uid(), meta.gid());
    if uid == 0 {
        return Ok(());
    }
    // SAFETY: single-threaded at this point; getpwuid's result is read before any other call
    // that could reuse its buffer; initgroups, setgid and setuid only change this process.
    unsafe {
        let pw = libc::getpwuid(uid);
        let groups = if pw.is_null() {
            libc::setgroups(0, std::ptr::null())
        } else {
            libc::initgroups((*pw).pw_name, gid)
        };
        if groups != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
            bail!(
                "cannot become user {uid}, the owner of the data dir {}: {} (run the command as that user: sudo -u packwitness ...)",
                dir.display(),
                std::io::Error::last_os_error()
            );
        }
    }
    tracing::info!(uid, data_dir = %dir.display(), "running as the data dir's owner");
    Ok(())
}

/// `doctor`: every check, one line each (or JSON); exit 1 if any failed.
pub fn doctor(
    config: &Config,
    config_path: Option<PathBuf>,
    data_dir: Option<PathBuf>,
    json: bool,
    probe_s: f64,
) -> Result<ExitCode> {
    use packwitness::app::doctor;
    if !(0.5..=60.0).contains(&probe_s) {
        anyhow::bail!("--probe-s must be between 0.5 and 60 seconds");
    }
    let report = doctor::run(
        config,
        &doctor::Options {
            config_path,
            data_dir,
            probe: std::time::Duration::from_secs_f64(probe_s),
            unit: "packwitness".into(),
        },
    );
    if json {
        out!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for c in &report.checks {
            out!("{:<8} {}: {}", c.verdict.as_str(), c.check, c.detail);
            if let Some(fix) = &c.fix {
                out!("         -> {fix}");
            }
        }
        let failed = report
            .checks
            .iter()
            .filter(|c| c.verdict == doctor::Verdict::Fail)
            .count();
        out!(
            "{}",
            if failed == 0 {
                "ready: every check passed".to_string()
            } else {
                format!("NOT READY: {failed} check(s) failed")
            }
        );
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub fn cameras(json: bool) -> Result<ExitCode> {
    use packwitness::media::source::{usb_cameras, usb_formats};
    let (list, problem) = match usb_cameras() {
        Ok(l) => (l, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let found: Vec<serde_json::Value> = list
        .iter()
        .map(|(index, name, description)| {
            let formats = usb_formats(*index)
                .unwrap_or_else(|e| vec![format!("(cannot list formats: {e})")]);
            serde_json::json!({ "index": index, "source": format!("usb:{index}"), "name": name, "description": description, "formats": formats })
        })
        .collect();
    if json {
        out!("{}", serde_json::to_string_pretty(&found)?);
    } else if found.is_empty() {
        out!(
            "no USB cameras found{}",
            problem.map(|p| format!(" ({p})")).unwrap_or_default()
        );
        out!("hint: a USB camera shows up as /dev/video*; check its cable and that this user may use it");
        out!("      (group `video`). Network cameras need no listing: give `rtsp://...` as a camera source.");
    } else {
        for c in &found {
            out!(
                "{}  {}  (source = \"{}\")",
                c["index"],
                c["name"].as_str().unwrap_or(""),
                c["source"].as_str().unwrap_or("")
            );
            for f in c["formats"].as_array().into_iter().flatten() {
                out!("    {}", f.as_str().unwrap_or(""));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `packwitness witness`: registers logs, prints the key, or serves.
pub fn witness(
    dir: Option<PathBuf>,
    listen: Option<&str>,
    key: bool,
    add_log: &[String],
    name: &str,
) -> Result<ExitCode> {
    let dir = dir.context("the witness keeps its key and state in --data-dir DIR: give one")?;
    let w = packwitness::app::witness::open(&dir, name)?;
    for k in add_log {
        let origin = w
            .add_log(k)
            .map_err(|e| anyhow::anyhow!("--add-log {k}: {e}"))?;
        eprintln!("witnessing the log {origin}");
    }
    if key {
        out!("{}", w.verifier());
        return Ok(ExitCode::SUCCESS);
    }
    let Some(listen) = listen else {
        if add_log.is_empty() {
            bail!("say what to do: --listen ADDR to serve, --key to print the key, --add-log KEY to witness a station");
        }
        return Ok(ExitCode::SUCCESS);
    };
    packwitness::app::witness::serve(listen, w, |key, addr| {
        use std::io::Write;
        // The key first, flushed: a script reads it before the server is used.
        let mut so = std::io::stdout().lock();
        let _ = writeln!(so, "{key}").and_then(|()| so.flush());
        eprintln!("packwitness witness: serving POST http://{addr}/add-checkpoint (Ctrl-C stops)");
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `packwitness archive`: serve, print the key, or register a station.
pub fn archive(
    dir: Option<PathBuf>,
    config: &Config,
    action: Option<super::ArchiveCmd>,
    listen: Option<&str>,
    key: bool,
    name: &str,
) -> Result<ExitCode> {
    let cfg = &config.archive_server;
    if let Some(super::ArchiveCmd::AddStation { station_key }) = action {
        let token = packwitness::app::archive::add_station(cfg, &station_key)?;
        eprintln!("station registered; put this token in its [archive] token:");
        out!("{token}");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(super::ArchiveCmd::AddAgent { name, stations }) = action {
        let token = packwitness::app::archive_search::add_agent(cfg, &name, stations.as_deref())?;
        eprintln!("agent {name} added; its token for the archive's search API:");
        out!("{token}");
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(account) = action.as_ref().and_then(accounts_cmd) {
        return account(cfg);
    }
    if let Some(super::ArchiveCmd::Push { url }) = action {
        let dir = super::data_dir_for_reading(dir, config)?;
        let mut cfg = config.archive.clone();
        if let Some(u) = url {
            cfg.url = u;
        }
        let st = packwitness::app::archive::push_data_dir(&dir, &cfg, &config.anchor)?;
        out!(
            "{}: the archive holds {} of {} lines; {} clip(s) and {} anchor(s) still missing",
            dir.display(),
            st.confirmed_lines,
            st.log_lines,
            st.clips_pending,
            st.anchors_pending
        );
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(super::ArchiveCmd::Hold {
        order,
        release,
        retain_days,
    }) = action
    {
        let held = packwitness::app::archive::hold(cfg, &order, !release, retain_days)?;
        let what = if release { "released" } else { "held" };
        if held.clips == 0 {
            bail!("the archive has no clip of order {order:?}");
        }
        out!(
            "{} clip(s) of {order} {what} ({} legal hold(s) changed in the store now; clips still arriving get theirs on arrival)",
            held.clips,
            held.holds_applied
        );
        if held.until > 0 {
            let until = chrono::DateTime::from_timestamp(held.until, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_default();
            out!(
                "locked until at least {until}: the clips and the objects their proofs need ({} lock(s) extended now)",
                held.extended
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let dir = dir.context("the archive keeps its signing key in --data-dir DIR: give one")?;
    let signing = packwitness::app::archive::key(&dir, name)?;
    if let Some(super::ArchiveCmd::AccessKey) = action {
        let log = packwitness::app::archive_access::AccessLog::open(&dir, signing.name())?;
        out!("{}", log.verifier());
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(super::ArchiveCmd::Export {
        code,
        output,
        station,
        who,
    }) = action
    {
        let who = who.unwrap_or_else(packwitness::app::user);
        let req = packwitness::app::archive_export::ExportRequest {
            code: &code,
            out: &output,
            who: &who,
            station: station.as_deref(),
        };
        let access = packwitness::app::archive_access::AccessLog::open(&dir, signing.name())?;
        let made = packwitness::app::archive_export::export(config, signing, &req, &|_, _| {})?;
        let ev = &made.evidence;
        // Recorded in the node's access log, as the app's downloads are; not kept otherwise.
        let recorded = packwitness::app::archive_app::record_command(
            cfg,
            &access,
            &packwitness::app::archive_access::Access {
                action: "export",
                code: ev.code.clone(),
                log: ev
                    .station_key
                    .split('+')
                    .next()
                    .unwrap_or_default()
                    .to_string(),
                clips: ev.clips.iter().map(|c| c.clip).collect(),
                who: who.clone(),
                to: made
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned()),
                derived: None,
            },
        );
        if let Err(e) = recorded {
            let _ = std::fs::remove_file(&made.path);
            return Err(anyhow::Error::from(e).context(format!(
                "{}: removed: its export could not be recorded",
                made.path.display()
            )));
        }
        out!(
            "wrote {} ({} bytes): {} clip(s) of {} from the archive, proven against the station's checkpoint of {} lines",
            made.path.display(),
            made.bytes,
            ev.clips.len(),
            ev.code,
            ev.checkpoint.size
        );
        out!("{}", ev.statement);
        out!(
            "check it with: packwitness verify-bundle {} --key '{}' --witness '{}'",
            made.path.display(),
            ev.station_key,
            ev.archive_key.as_deref().unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if key {
        out!("{}", signing.verifier());
        return Ok(ExitCode::SUCCESS);
    }
    let listen = listen.unwrap_or(&cfg.listen).to_string();
    packwitness::app::archive::serve(&listen, config, &dir, signing, |key, addr| {
        use std::io::Write;
        let mut so = std::io::stdout().lock();
        let _ = writeln!(so, "{key}").and_then(|()| so.flush());
        eprintln!("packwitness archive: serving the stations at http://{addr}/v1/ and the customer-service app at http://{addr}/ (Ctrl-C stops)");
    })?;
    Ok(ExitCode::SUCCESS)
}

type ArchiveAccountCmd =
    Box<dyn FnOnce(&packwitness::config::ArchiveServerConfig) -> Result<ExitCode>>;

/// The `archive` subcommands about the app's accounts and station groups.
fn accounts_cmd(action: &super::ArchiveCmd) -> Option<ArchiveAccountCmd> {
    use packwitness::app::archive_app as app;
    Some(match action.clone() {
        super::ArchiveCmd::AddAccount {
            name,
            role,
            stations,
            groups,
        } => Box::new(move |cfg| {
            let password = read_password()?;
            app::add_account(
                cfg,
                &name,
                &role,
                &password,
                stations.as_deref(),
                groups.as_deref(),
            )?;
            eprintln!("account {name} added as {role} at the archive");
            Ok(ExitCode::SUCCESS)
        }),
        super::ArchiveCmd::RemoveAccount { name } => Box::new(move |cfg| {
            if !app::remove_account(cfg, &name)? {
                bail!("the archive has no account {name:?}");
            }
            eprintln!("account {name} removed (its sessions ended)");
            Ok(ExitCode::SUCCESS)
        }),
        super::ArchiveCmd::Accounts => Box::new(|cfg| {
            let list = |l: &Option<Vec<String>>| l.as_ref().map_or("-".into(), |l| l.join(","));
            for a in app::list_accounts(cfg)? {
                out!(
                    "{}\t{}\tstations {}\tgroups {}",
                    a.name,
                    a.role,
                    list(&a.stations),
                    list(&a.groups)
                );
            }
            Ok(ExitCode::SUCCESS)
        }),
        super::ArchiveCmd::Group { name, stations } => Box::new(move |cfg| {
            app::put_group(cfg, &name, &stations)?;
            eprintln!("station group {name}: {}", stations.join(", "));
            Ok(ExitCode::SUCCESS)
        }),
        _ => return None,
    })
}

/// The first line of standard input: a password.
fn read_password() -> Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// `packwitness user add|list|remove|passwd`.
pub fn user(dir: Option<PathBuf>, config: &Config, action: super::UserCmd) -> Result<ExitCode> {
    use packwitness::web::accounts;
    let dir = dir
        .or_else(|| config.data_dir.clone())
        .context("no data dir: pass --data-dir DIR, or set data_dir in the config")?;
    match action {
        super::UserCmd::Add { name, role } => {
            let role = accounts::Role::parse(&role)?;
            // Accounts may be made before the first start: the data dir is made for them.
            packwitness::datadir::create(&dir)?;
            accounts::add(&dir, &name, role, &read_password()?)?;
            eprintln!("user {name} added as {}", role.as_str());
        }
        super::UserCmd::List => {
            for u in accounts::load(&dir)? {
                out!("{}\t{}", u.name, u.role.as_str());
            }
        }
        super::UserCmd::Remove { name } => {
            accounts::remove(&dir, &name)?;
            eprintln!("user {name} removed (their sessions end at their next request)");
        }
        super::UserCmd::Passwd { name } => {
            accounts::passwd(&dir, &name, &read_password()?)?;
            eprintln!("password of {name} changed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn screen(dir: Option<PathBuf>, config: &Config, action: super::ScreenCmd) -> Result<ExitCode> {
    use packwitness::web::screens;
    let dir = dir
        .or_else(|| config.data_dir.clone())
        .context("no data dir: pass --data-dir DIR, or set data_dir in the config")?;
    let now = chrono::Utc::now().timestamp();
    let when = |t: i64| packwitness::clock::utc_seconds(u64::try_from(t).unwrap_or(0));
    match action {
        super::ScreenCmd::Pair { station, label } => {
            if config.station(&station).is_none() {
                let ids: Vec<&str> = config.stations.iter().map(|s| s.id.as_str()).collect();
                bail!(
                    "no station {station:?} in this config (stations: {}); pass --config with the station's config",
                    ids.join(", ")
                );
            }
            packwitness::datadir::create(&dir)?;
            let code = screens::new_code(&dir, &station, &label, now)?;
            let listen = &config.server.listen;
            let at = match listen.rsplit_once(':') {
                _ if listen.is_empty() => "<this PC>:<port of [server] listen>".to_string(),
                Some(("0.0.0.0" | "[::]", port)) => format!("<this PC's address>:{port}"),
                _ => listen.clone(),
            };
            eprintln!(
                "On the screen of {station}, open http://{at}/station/{station} and type this code within {} minutes (it works once):",
                screens::CODE_MINUTES
            );
            out!("{code}");
        }
        super::ScreenCmd::List => {
            for s in screens::list(&dir)? {
                out!(
                    "{}\t{}\t{}\tpaired {}\tlast seen {}",
                    s.id,
                    s.station,
                    s.label,
                    when(s.paired_at),
                    when(s.last_seen)
                );
            }
        }
        super::ScreenCmd::Revoke { which } => {
            let gone = screens::revoke(&dir, &which)?;
            if gone.is_empty() {
                bail!("no paired screen is {which:?} or belongs to a station {which:?}: see `packwitness screen list`");
            }
            for s in gone {
                eprintln!(
                    "screen {} of {} unpaired: it shows its pairing page within a second",
                    s.id, s.station
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A share link's state for people: its name in English (as scripts read it), in words in
/// Chinese.
fn share_state(state: &str) -> String {
    match super::people_lang() {
        packwitness::web::i18n::Lang::Zh => super::say(&format!("share_state_{state}"), &[]),
        _ => state.to_string(),
    }
}

pub fn share(dir: PathBuf, config: &Config, action: super::ShareCmd) -> Result<ExitCode> {
    use packwitness::log::Body;
    use packwitness::web::shares;
    let now = chrono::Utc::now().timestamp();
    let when = |t: i64| packwitness::clock::utc_seconds(u64::try_from(t).unwrap_or(0));
    let record = |action: &str, code: &str, who: String, id: &str| -> Result<()> {
        let index = packwitness::index::Index::open_read(&dir)?;
        let clips = index.lookup(code)?.iter().map(|c| c.clip).collect();
        drop(index);
        let appender = packwitness::recorder::open_appender(
            &dir,
            config,
            packwitness::clock::RealClock::shared(),
        )?;
        appender.append(Body::Access {
            action: action.into(),
            code: code.into(),
            clips,
            who,
            to: Some(id.into()),
            derived: None,
            log: None,
        })?;
        appender.checkpoint()?;
        Ok(())
    };
    match action {
        super::ShareCmd::Create {
            code,
            days,
            pin,
            who,
        } => {
            let found = packwitness::index::lookup(
                &dir,
                &code,
                config.codes.max_len,
                packwitness::index::FileCheck::Size,
            )?;
            let Some(first) = found.first() else {
                bail!("no clip of {code:?} to share (see `packwitness lookup {code}`)");
            };
            let order = first.clip.order.clone();
            let who = who.unwrap_or_else(packwitness::app::user);
            let (made, token) = shares::create(&dir, &order, &who, days, pin.as_deref(), now)?;
            record("share", &order, who, &made.id)?;
            let base = &config.server.public_url;
            let base = if base.is_empty() {
                super::say("cli_share_no_url", &[])
            } else {
                base.clone()
            };
            let pin = if made.has_pin() {
                super::say("cli_share_pin", &[])
            } else {
                String::new()
            };
            eprintln!(
                "{}",
                super::say(
                    "cli_share_made",
                    &[
                        ("id", &made.id),
                        ("order", &order),
                        ("until", &when(made.expires_at)),
                        ("pin", &pin)
                    ]
                )
            );
            out!("{base}/s/{token}");
        }
        super::ShareCmd::List => {
            for s in shares::list(&dir)? {
                out!(
                    "{}\t{}\t{}\t{}{}",
                    s.id,
                    s.code,
                    s.created_by,
                    super::say(
                        "cli_share_row",
                        &[
                            ("made", &when(s.created_at)),
                            ("until", &when(s.expires_at)),
                            ("state", &share_state(s.state(now).as_str()))
                        ]
                    ),
                    if s.has_pin() { "\tPIN" } else { "" }
                );
            }
        }
        super::ShareCmd::Revoke { id } => {
            let Some(s) = shares::revoke(&dir, &id, now)? else {
                bail!("no share link {id:?}: see `packwitness share list`");
            };
            record("share_revoked", &s.code, packwitness::app::user(), &s.id)?;
            eprintln!(
                "{}",
                super::say("cli_share_revoked", &[("id", &s.id), ("order", &s.code)])
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
