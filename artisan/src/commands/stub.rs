//! `stub:publish`: copies the built-in templates into the package, where
//! artisan renders them from then on.

use std::path::Path;

use anyhow::Result;

use crate::cli::StubPublish;
use crate::fsx::Transaction;
use crate::out;
use crate::project::Project;
use crate::templates::BUILT_IN;

pub fn publish(manifest: Option<&Path>, args: StubPublish) -> Result<()> {
    let project = Project::open(manifest)?;
    let mut tx = Transaction::new();
    let mut skipped = Vec::new();
    for (name, text) in BUILT_IN {
        let path = project.templates.join(name);
        if path.exists() && !args.force {
            skipped.push(path);
        } else {
            tx.write(path, (*text).to_string());
        }
    }
    for (path, outcome) in tx.commit()? {
        let verb = match outcome {
            crate::fsx::Outcome::Created => "published",
            crate::fsx::Outcome::Updated => "overwritten",
            crate::fsx::Outcome::Unchanged => "is already the built-in one",
        };
        out::info(&format!("Template [{}] {verb}.", project.rel(&path)));
    }
    for path in skipped {
        out::warn(&format!(
            "Template [{}] exists and is kept; pass --force to overwrite it.",
            project.rel(&path)
        ));
    }
    out::info(&format!(
        "artisan renders the templates in [{}] from now on.",
        project.rel(&project.templates)
    ));
    Ok(())
}
