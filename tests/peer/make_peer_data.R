# Data the ported peer tests need that R's random number generator made, and lme4's tight refits.
#
#   Rscript tests/peer/make_peer_data.R      # from the repository root (R 4.2, lme4 1.1-31)
#
# 1. Re-runs the data-generating code of the peer tests (same seeds, same statements) and writes
#    tests/peer/data/lme4/*.csv, so the Python ports run without R.
# 2. Refits, with tight tolerances, the models whose peer assertion was written against an lme4
#    fit with default (or deliberately loose) tolerances, and writes tests/peer/fixtures/lme4_tight.json.
suppressMessages({library(lme4); library(jsonlite)})
out <- "tests/peer/data/lme4"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
dir.create("tests/peer/fixtures", showWarnings = FALSE)
write <- function(d, name) write.csv(d, file.path(out, paste0(name, ".csv")), row.names = FALSE)

## lme4 tests/testthat/test-lmer.R:286-292 ("coef_lmer"); that file sets R < 3.6's sampler (test-lmer.R:7-8)
suppressWarnings(RNGkind("Mersenne-Twister", "Inversion", "Rounding"))
set.seed(101)
d <- data.frame(resp=runif(100),
                var1=factor(sample(1:5,size=100,replace=TRUE)),
                var2=runif(100),
                var3=factor(sample(1:5,size=100,replace=TRUE)))
write(d, "coef_lmer")

## lme4 tests/lmer-0.R:17-20 (also with R < 3.6's sampler, lmer-0.R:4-6)
set.seed(7)
n <- 10
X <- data.frame(y=runif(n), x=rnorm(n), z=sample(c("A","B"), n, TRUE))
write(X, "buhr")
RNGkind("default", "default", "default")

## lme4 tests/lmer-1.R:130-136 (Gelman's example)
n.groups <- 10 ; n.reps <- 2
n <- length(group.id <- gl(n.groups, n.reps))
set.seed(0)
a.group <- rnorm(n.groups, 1, 2)
y <- rnorm (n, a.group[group.id], 1)
write(data.frame(y = y, group.id = group.id), "gelman")

## lme4 tests/lmer-1.R:151-155 (lagoon / habitat)
set.seed(1)
dat <- within(data.frame(lagoon = factor(rep(1:4,each = 25)),
                         habitat = factor(rep(1:20, each = 5))),
          {
              y <- round(10*rnorm(100, m = 10*as.numeric(lagoon)))
          })
write(dat, "lagoon")

## lme4 tests/testthat/test-glmer.R:208-217 (issue #47)
n <- 100
ai <- rep(0:1, each = n/2); ci <- c(rep(0,42), rep(1,8), rep(0,18), rep(1,32))
write(data.frame(event = c(rbind(ai,ci)), group = rep(c(1,0), times=n), id = rep(1:n, each=2)), "issue47")

## lme4 tests/offset.R:6-37 (y is Gaussian for the lmer test, then Poisson for the glmer test)
set.seed(101)
d <- expand.grid(block=LETTERS[1:26],rep=1:100)
d$x <- runif(nrow(d))  ## sd=1
reff_f <- rnorm(length(levels(d$block)),sd=1)
d$eta0 <- 4+3*d$x  ## version without random effects
d$eta <- d$eta0+reff_f[d$block]
d$mu <- d$eta
d$y <- rnorm(nrow(d),mean=d$mu,sd=1)
y_gaussian <- d$y
d$mu <- exp(d$eta)
d$y <- rpois(nrow(d),d$mu)
write(data.frame(block = d$block, x = d$x, y_gaussian = y_gaussian, y_poisson = d$y), "offset")

## tight refits
tight <- lmerControl(optimizer = "nloptwrap",
                     optCtrl = list(ftol_abs = 1e-14, ftol_rel = 1e-14, xtol_abs = 1e-12, xtol_rel = 1e-12))
gtight <- glmerControl(optimizer = "nloptwrap",
                       optCtrl = list(ftol_abs = 1e-14, ftol_rel = 1e-14, xtol_abs = 1e-12, xtol_rel = 1e-12))
res <- list()
fm <- lmer(Reaction ~ Days + (Days|Subject), sleepstudy, control = tight)
res$sleepstudy_slopes <- list(resid_range = range(resid(fm)), scaled_resid_range = range(resid(fm, scaled = TRUE)),
                              REMLcrit = REMLcrit(fm))
fm <- lmer(Reaction ~ Days + (1|Subject) + (0+Days|Subject), sleepstudy, control = tight)
rr <- as.data.frame(ranef(fm, condVar = TRUE))
res$sleepstudy_two_terms <- list(condval = rr$condval[c(1, 19)], condsd = rr$condsd[c(1, 19)],
                                 postvar = c(rr$condsd[1]^2, rr$condsd[19]^2), REMLcrit = REMLcrit(fm))
fm <- lmer(Yield ~ 1|Batch, Dyestuff, control = tight)
fmML <- refitML(fm)
res$dyestuff <- list(varcorr = VarCorr(fm)[[1]][1,1], sigma = sigma(fm), vcov = vcov(fm)[1,1],
                     theta = unname(getME(fm, "theta")), REMLcrit = REMLcrit(fm),
                     sigmaML = sigma(fmML), devianceML = deviance(fmML), vcovML = vcov(fmML)[1,1])
gm <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial, control = gtight)
res$cbpp <- list(fixef = unname(fixef(gm)), theta = unname(getME(gm, "theta")), deviance = deviance(gm),
                 AIC = AIC(gm), resid_range = range(resid(gm)), response_range = range(resid(gm, "response")),
                 pearson_range = range(resid(gm, "pearson")), working_range = range(resid(gm, "working")),
                 minus2loglik = -2 * as.numeric(logLik(gm)))
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/peer/fixtures/lme4_tight.json")

## lmerTest's datasets used by lmerTest's tests/test_compare_sas.R (carrots, ham; lmerTest 3.1-3),
## with each factor's level order in <name>.levels.json
suppressMessages(library(lmerTest))
out_lt <- "tests/peer/data/lmerTest"
dir.create(out_lt, showWarnings = FALSE, recursive = TRUE)
for (name in c("carrots", "ham")) {
  e <- new.env(); data(list = name, package = "lmerTest", envir = e); d <- e[[name]]
  write.csv(d, file.path(out_lt, paste0(name, ".csv")), row.names = FALSE)
  lev <- lapply(Filter(is.factor, d), levels)
  writeLines(toJSON(lev, pretty = TRUE), file.path(out_lt, paste0(name, ".levels.json")))
}

## lmerTest's tests/test_lmerTest_paper.R: the data TVbo and the validated outputs it compares with
## (inst/testdata/test_paper_objects.RData), written as JSON tables (rows, columns, values)
e <- new.env(); data("TVbo", package = "lmerTest", envir = e)
write.csv(e$TVbo, file.path(out_lt, "TVbo.csv"), row.names = FALSE)
writeLines(toJSON(lapply(Filter(is.factor, e$TVbo), levels), pretty = TRUE), file.path(out_lt, "TVbo.levels.json"))
saved <- new.env()
load(system.file("testdata", "test_paper_objects.RData", package = "lmerTest"), envir = saved)
as_table <- function(x) { x <- as.data.frame(x); list(rows = rownames(x), columns = colnames(x), values = unname(as.list(x))) }
tabs <- lapply(mget(c("an8.2_save", "ankr8.2_save", "sum8.3_save", "an8.4_save", "con1_8.5_save", "con2_8.5_save",
                      "elim_tab_random8.4_save", "elim_tab_fixed8.4_save"), envir = saved, ifnotfound = list(NULL)),
               function(x) if (is.null(x)) NULL else as_table(x))
writeLines(toJSON(tabs, digits = NA, pretty = TRUE, na = "null"), "tests/peer/fixtures/lmerTest_paper.json")
