# The exact roots of Dyestuff's ML profile for sigma (profile-tst.R:48), with lme4's own deviance.
# lme4's confint(method = "profile") interpolates zeta with splines; here zeta is computed directly:
# D(theta, sigma) = log|L|^2 + pwrss / sigma^2 + n log(2 pi sigma^2) from lme4's devfun (pwrss from
# explicit residuals), minimised over theta at each sigma (optimize, tol 1e-13), and the roots of
# zeta(sigma) = -+qnorm(0.975) found by uniroot (tol 1e-13).  R 4.2, lme4 1.1-31.
# Run from tests/peer:  Rscript make_profile_root.R   (writes fixtures/profile_root.json)
suppressMessages({library(lme4); library(jsonlite)})
fm <- lmer(Yield ~ (1 | Batch), Dyestuff, REML = FALSE)
dev <- lmer(Yield ~ (1 | Batch), Dyestuff, REML = FALSE, devFunOnly = TRUE)
env <- environment(dev)
n <- nrow(Dyestuff)
deviance_at <- function(theta, sigma) {
  dev(theta)
  pwrss <- env$resp$wrss() + env$pp$sqrL(1)
  env$pp$ldL2() + pwrss / sigma^2 + n * log(2 * pi * sigma^2)
}
base <- deviance(fm)
profiled <- function(sigma) optimize(function(th) deviance_at(th, sigma), c(0, 10), tol = 1e-13)$objective
zeta <- function(s) sign(s - sigma(fm)) * sqrt(max(profiled(s) - base, 0))
cutoff <- qnorm(0.975)
lower <- uniroot(function(s) zeta(s) + cutoff, c(30, sigma(fm)), tol = 1e-13)$root
upper <- uniroot(function(s) zeta(s) - cutoff, c(sigma(fm), 100), tol = 1e-13)$root
spline <- confint(fm, parm = "sigma", oldNames = FALSE, quiet = TRUE)
out <- list(dyestuff_ml_sigma = list(
  exact_root = c(lower, upper),
  lme4_confint_profile = unname(c(spline[1], spline[2])),
  lme4_version = as.character(packageVersion("lme4"))))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "fixtures/profile_root.json")
