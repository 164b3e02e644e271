# lme4's fits of the randomized differential suite, written as small JSON fixtures.
#
#   Rscript tests/differential/fit_lme4.R            # from the repository root; after generate.py
#   Rscript tests/differential/fit_lme4.R ID_PREFIX  # only the datasets whose name starts with ID_PREFIX
#
# Reads tests/differential/specs.json and data/, fits every spec twice -- with lme4's default
# controls and with tight tolerances (nloptwrap BOBYQA, optCtrl = list(ftol_abs = 1e-14,
# ftol_rel = 1e-14, xtol_abs = 1e-12, xtol_rel = 1e-12), for both stages of glmer) -- and
# writes fixtures/<dataset>.json: one entry per model with, for each fit, the objective (REML
# criterion, ML deviance, or -2 logLik for glmer), beta, se, theta, sigma, varcorr (as
# as.data.frame(VarCorr(fit))), isSingular and lme4's convergence messages.  A model lme4
# refuses is recorded with its error message.
suppressMessages({library(lme4); library(jsonlite)})
invisible(Sys.setlocale("LC_COLLATE", "C"))
args <- commandArgs(TRUE)
prefix <- if (length(args)) args[1] else ""
here <- "tests/differential"
specs <- fromJSON(file.path(here, "specs.json"), simplifyVector = FALSE)
dir.create(file.path(here, "fixtures"), showWarnings = FALSE)

tight_opt <- list(ftol_abs = 1e-14, ftol_rel = 1e-14, xtol_abs = 1e-12, xtol_rel = 1e-12)

load_data <- function(file) {
  d <- read.csv(file.path(here, "data", file), na.strings = c("NA", ""), stringsAsFactors = FALSE)
  for (v in names(d)) if (is.character(d[[v]])) d[[v]] <- factor(d[[v]])
  d
}

fit_model <- function(s, d, tight) {
  f <- as.formula(s$formula)
  a <- s$r_args
  w <- if (is.null(a$weights)) NULL else d[[a$weights]]
  if (s$kind == "lmer") {
    ctrl <- if (tight) lmerControl(optimizer = "nloptwrap", optCtrl = tight_opt) else lmerControl()
    eval(bquote(lme4::lmer(f, data = d, REML = .(a$REML), weights = .(w), control = ctrl)))
  } else if (s$kind == "glmer_nb") {
    ctrl <- if (tight) glmerControl(optimizer = "nloptwrap", optCtrl = tight_opt) else glmerControl()
    lme4::glmer.nb(f, data = d, control = ctrl)
  } else {
    ctrl <- if (tight) glmerControl(optimizer = "nloptwrap", optCtrl = tight_opt) else glmerControl()
    fam <- if (is.null(a$link)) a$family else get(a$family)(link = a$link)
    nagq <- if (is.null(a$nAGQ)) 1 else a$nAGQ
    eval(bquote(lme4::glmer(f, data = d, family = .(fam), weights = .(w), nAGQ = .(nagq), control = ctrl)))
  }
}

summarise_fit <- function(fm, kind, seconds, warn) {
  vc <- as.data.frame(VarCorr(fm)); vc[is.na(vc)] <- ""
  list(
    objective = if (kind == "lmer") (if (isREML(fm)) REMLcrit(fm) else deviance(fm)) else -2 * as.numeric(logLik(fm)),
    beta = unname(fixef(fm)), beta_names = names(fixef(fm)),
    se = unname(sqrt(diag(as.matrix(vcov(fm))))),
    theta = unname(getME(fm, "theta")), theta_names = names(getME(fm, "theta")),
    sigma = sigma(fm), varcorr = vc, nobs = nobs(fm), ngrps = as.list(ngrps(fm)),
    singular = isSingular(fm), messages = unique(c(fm@optinfo$conv$lme4$messages, warn)),
    nb_theta = if (kind == "glmer_nb") getME(fm, "glmer.nb.theta") else NULL,
    seconds = seconds)
}

one_fit <- function(s, d, tight) {
  warn <- character(0)
  t0 <- proc.time()[["elapsed"]]
  fm <- withCallingHandlers(fit_model(s, d, tight), warning = function(w) {
    warn <<- c(warn, conditionMessage(w)); invokeRestart("muffleWarning")
  }, message = function(m) invokeRestart("muffleMessage"))
  summarise_fit(fm, s$kind, proc.time()[["elapsed"]] - t0, warn)
}

if (!exists("FIT_LME4_FUNCTIONS_ONLY")) {  # fit_lme4_minqa.R sources the functions above
  by_dataset <- split(specs, vapply(specs, function(s) s$dataset, ""))
  for (name in names(by_dataset)) {
    if (!startsWith(name, prefix)) next
    group <- by_dataset[[name]]
    d <- load_data(group[[1]]$file)
    out <- lapply(group, function(s) {
      res <- list(id = s$id, formula = s$formula, kind = s$kind, r_args = s$r_args)
      fits <- tryCatch(list(default = one_fit(s, d, FALSE), tight = one_fit(s, d, TRUE)),
                       error = function(e) list(error = conditionMessage(e)))
      c(res, fits)
    })
    meta <- list(lme4_version = as.character(packageVersion("lme4")), R_version = R.version.string,
                 dataset = name, fits = out)
    writeLines(toJSON(meta, auto_unbox = TRUE, digits = NA, null = "null", na = "null"),
               file.path(here, "fixtures", paste0(name, ".json")))
    cat(name, length(out), "fits\n")
  }
}
