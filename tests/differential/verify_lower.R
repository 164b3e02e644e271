# lme4's deviance function at mixedlite's optimum, for the fits where mixedlite is lower (see verify_lower.py).
#   Rscript tests/differential/verify_lower.R      # from the repository root
suppressMessages({library(lme4); library(jsonlite)})
invisible(Sys.setlocale("LC_COLLATE", "C"))
here <- "tests/differential"
specs <- fromJSON(file.path(here, "specs.json"), simplifyVector = FALSE)
names(specs) <- vapply(specs, function(s) s$id, "")
rows <- fromJSON("build/differential/lower_params.json", simplifyVector = FALSE)
# glmer.nb fits are left out: their deviance is also a function of the NB dispersion, which lower_params.json lacks
rows <- Filter(function(r) specs[[r$id]]$kind != "glmer_nb", rows)
load_data <- function(file) {
  d <- read.csv(file.path(here, "data", file), na.strings = c("NA", ""), stringsAsFactors = FALSE)
  for (v in names(d)) if (is.character(d[[v]])) d[[v]] <- factor(d[[v]])
  d
}
out <- lapply(rows, function(r) {
  s <- specs[[r$id]]; d <- load_data(s$file); a <- s$r_args
  w <- if (is.null(a$weights)) NULL else d[[a$weights]]
  theta <- unlist(r$theta)
  if (s$kind == "lmer") {
    devfun <- eval(bquote(lme4::lmer(as.formula(s$formula), data = d, REML = .(a$REML), weights = .(w),
                                     devFunOnly = TRUE)))
    value <- devfun(theta)
  } else {
    fm <- eval(bquote(lme4::glmer(as.formula(s$formula), data = d, family = .(a$family), weights = .(w),
                                  nAGQ = .(if (is.null(a$nAGQ)) 1 else a$nAGQ))))
    devfun <- update(fm, devFunOnly = TRUE)
    value <- devfun(c(theta, unlist(r$beta)))
  }
  cat(sprintf("%-18s lme4 devfun at mixedlite's optimum %.8f  lme4's optimum %.8f  mixedlite %.8f\n",
              r$id, value, r$lme4_best, r$mixedlite))
  list(id = r$id, lme4_devfun_at_mixedlite = value, lme4_best = r$lme4_best, mixedlite = r$mixedlite,
       confirmed = value < r$lme4_best)
})
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(here, "lower_verified.json"))
