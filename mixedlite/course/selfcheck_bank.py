"""The chapters' self-check questions (ungraded; the graded ones are in solutions/), and what a question is.

Keys are ``"<chapter>.<number>"``. Every option carries its explanation, shown by
:mod:`mixedlite.course.selfcheck` as soon as the reader checks an answer.
"""
import html
from dataclasses import dataclass

LETTERS = "abcd"


@dataclass(frozen=True)
class Option:
    """One answer option and the reason it is right or wrong."""
    text: str
    why: str


@dataclass(frozen=True)
class Question:
    """A multiple-choice question with one best answer (a letter) and an explanation per option."""
    key: str
    prompt: str
    options: tuple
    answer: str

    def __post_init__(self):
        if len(self.options) != len(LETTERS):
            raise ValueError(f"question {self.key}: give exactly {len(LETTERS)} options, not {len(self.options)}")
        if self.answer not in LETTERS:
            raise ValueError(f"question {self.key}: answer must be one of {tuple(LETTERS)}, not {self.answer!r}")

    def option(self, letter):
        letter = str(letter).strip().lower()
        if letter not in LETTERS:
            raise ValueError(f"choose one of {', '.join(LETTERS)}; got {letter!r}")
        return self.options[LETTERS.index(letter)]

    def feedback(self, letter):
        """(correct, message) for the chosen letter: the verdict and why that option is right or wrong."""
        correct = str(letter).strip().lower() == self.answer
        verdict = "Right." if correct else "Not quite."
        return correct, f"{verdict} {self.option(letter).why}"

    def explain_all(self):
        """Every option with its explanation, the best answer marked."""
        lines = []
        for letter, opt in zip(LETTERS, self.options):
            mark = "best answer" if letter == self.answer else "not the best answer"
            lines.append(f"{letter}. {opt.text} ({mark}) {opt.why}")
        return "\n".join(lines)

    def as_html(self):
        """The question and its options, without the answer (what a static page shows)."""
        items = "".join(f"<li><b>{l}.</b> {html.escape(o.text)}</li>" for l, o in zip(LETTERS, self.options))
        return (f"<div><b>Self-check {html.escape(self.key)}.</b> {html.escape(self.prompt)}"
                f"<ul style='list-style:none'>{items}</ul>"
                "<i>Run the notebook to check your answer.</i></div>")


O, Q = Option, Question  # short names for the bank below

QUESTIONS = [
    # ---------------------------------------------------------------- 1 why mixed models
    Q("01.1", "Twenty clinics of ten patients each; the treatment is assigned to whole clinics. A least-squares "
              "regression on the 200 patients reports p = 0.01 for the treatment. What is the main worry?", (
        O("The treatment estimate is biased, because clinics differ in their size and case mix.",
          "With clinics randomised, the least-squares estimate is roughly unbiased; the problem is its precision."),
        O("Least squares has too few degrees of freedom here, so its p-value is too conservative.",
          "The other way round: it claims 198 residual df, while a clinic-level treatment is informed by 20 clinics."),
        O("The p-value counts 200 independent patients, but the treatment varies between 20 clinics.",
          "Patients of one clinic share its effect, so the standard error is too small and the p-value too "
          "small with it (Chapter 1's simulation rejected far more than 5% of true null hypotheses)."),
        O("Nothing: randomisation guarantees that an ordinary regression gives a valid test here.",
          "Randomising clinics makes the comparison fair, but the analysis must respect the unit that was "
          "randomised: the clinic."),
    ), "c"),
    Q("01.2", "What does partial pooling do to the estimated mean of a cluster with very few observations?", (
        O("It leaves the cluster's own mean untouched, since every cluster is estimated on its own.",
          "That is no pooling: each cluster on its own, however little data it has."),
        O("It replaces the cluster's mean by the grand mean, ignoring the cluster's own data entirely.",
          "That is complete pooling, which denies that clusters differ."),
        O("It drops the cluster from the analysis until it has enough observations of its own.",
          "Small clusters stay in the model; they contribute what they can and borrow the rest."),
        O("It pulls the cluster's mean toward the grand mean, the more so the less data it has.",
          "The estimate is a precision-weighted average of the cluster's mean and the grand mean (Chapter 6)."),
    ), "d"),
    # ---------------------------------------------------------------- 2 fixed, random, formulas
    Q("02.1", "Students sit in classes within schools, and the classes are labelled 1 to 4 in every school. "
              "Which random part describes the design?", (
        O("`(1 | school) + (1 | class)`, since school and class are two separate grouping factors.",
          "With reused labels this merges 'class 1' of every school into one group: 4 'classes' crossed with "
          "schools, instead of one group per real class."),
        O("`(1 | school/class)`",
          "It expands to (1 | school) + (1 | school:class): one effect per school and one per class within school."),
        O("`(1 + class | school)`, which gives each school its own effect of the class variable.",
          "That is a random slope for the class labels within schools, not a grouping of students by class."),
        O("`(1 | class/school)`, because the smaller unit is named first when writing nesting.",
          "a/b means b within a, so this nests schools within classes: the wrong way round."),
    ), "b"),
    Q("02.2", "What does `(Days || Subject)` fit that differs from `(Days | Subject)`?", (
        O("An extra variance for the residuals of each subject, so that noise can differ by subject.",
          "Neither formula gives subjects their own residual variance."),
        O("A random slope without a random intercept, which suits data where everyone starts equal.",
          "The double bar keeps the random intercept; `(0 + Days | Subject)` would drop it."),
        O("The same two variances, with their correlation fixed at zero.",
          "`||` expands to (1 | Subject) + (0 + Days | Subject): two independent terms, one parameter fewer."),
        O("A second grouping factor nested in Subject, which is why the summary lists Subject twice.",
          "The second listing (Subject.1) is the separate slope term, not a nested factor."),
    ), "c"),
    Q("02.3", "Students live in neighbourhoods and attend schools; each neighbourhood sends its children to a few "
              "nearby schools. Which random part describes the design?", (
        O("`(1 | school) + (1 | neighbourhood)`: one term per classification.",
          "The factors are cross-classified (partially crossed); each gets its own term, whether or not every "
          "combination occurs (Section 2.7)."),
        O("`(1 | school/neighbourhood)`, because neighbourhoods are nested in the schools they feed.",
          "A neighbourhood feeds several schools, so it is not inside any one of them."),
        O("`(1 | neighbourhood/school)`, since every school lies inside exactly one neighbourhood.",
          "A school draws children from several neighbourhoods; the nesting fails this way round too."),
        O("`(1 | school)` alone, since a second factor needs every school-neighbourhood combination.",
          "Partially crossed designs are fitted the same way as fully crossed ones; leaving a factor out shifts "
          "its variance onto the other."),
    ), "a"),
    # ---------------------------------------------------------------- 3 ICC
    Q("03.1", "A random-intercept model estimates a between-cluster variance of 9 and a residual variance of 27. "
              "What is the ICC?", (
        O("0.33, the between-cluster variance divided by the residual variance.",
          "The denominator must be the total variance, 9 + 27, not the residual variance alone."),
        O("0.50, because the SDs are 3 and about 5.2 and so the two shares are about equal.",
          "The ICC is a ratio of variances, not of standard deviations."),
        O("0.75, the share of the variance that lies within the clusters.",
          "27 / 36 is the within-cluster share; the ICC is the between-cluster share."),
        O("0.25",
          "9 / (9 + 27) = 0.25: a quarter of the variance lies between clusters."),
    ), "d"),
    Q("03.2", "Two studies both have an ICC of 0.05. Study A has 10 patients per clinic, study B 100. "
              "What follows?", (
        O("Both lose the same share of their information, because the ICC is the same in both.",
          "The design effect 1 + (K - 1) ICC depends on the cluster size K as well."),
        O("Study B loses less, because big clusters estimate every clinic's mean more precisely.",
          "The other way round: each extra patient in a clinic adds less new information."),
        O("B's design effect is 5.95 and A's 1.45: large clusters amplify a small ICC.",
          "1 + 99 x 0.05 = 5.95 against 1 + 9 x 0.05 = 1.45."),
        O("Neither loses anything, since an ICC below 0.1 can be ignored in the analysis.",
          "With clusters of 100, an ICC of 0.05 multiplies the variance of a mean by almost six."),
    ), "c"),
    # ---------------------------------------------------------------- 4 REML and ML
    Q("04.1", "You want a likelihood-ratio test of two models that differ in their fixed effects. "
              "How must both be fitted?", (
        O("By REML, because REML gives the less biased variance estimates that the test relies on.",
          "REML likelihoods of models with different fixed effects are likelihoods of different data "
          "transformations and cannot be compared."),
        O("By ML, since REML likelihoods with different fixed parts are not comparable.",
          "That is why anova() refits REML fits by maximum likelihood before testing."),
        O("Either way, as long as both models use the same method and exactly the same data.",
          "Both by REML fails here: the REML criterion depends on the fixed-effects design."),
        O("By least squares, as the fixed effects are estimated by least squares in both models anyway.",
          "A least-squares fit ignores the random effects; its likelihood is that of another model."),
    ), "b"),
    Q("04.2", "Why does REML exist at all?", (
        O("It converges faster than maximum likelihood, which matters for models with many random effects.",
          "Speed is similar; REML is about bias, not time."),
        O("It gives smaller standard errors for the fixed effects than maximum likelihood does.",
          "It tends to give slightly larger variance components, and so if anything larger standard errors."),
        O("It is the only method that fits models with random slopes as well as random intercepts.",
          "Maximum likelihood fits the same models."),
        O("ML variances are biased low: they ignore the df spent on fixed effects.",
          "As dividing by n instead of n - 1 does; REML accounts for the estimated fixed effects."),
    ), "d"),
    Q("04.3", "In 100 simulated clinic studies the estimated clinic intercept-slope correlation spreads from about "
              "-0.8 to 1 around a true value of 0. What follows for the tutorial's estimate of 0.55?", (
        O("It is weak evidence of anything: 15 clinics estimate a correlation poorly.",
          "An estimate is informative only relative to its sampling spread, which the simulation shows is huge."),
        O("It is strong evidence of a positive correlation, since 0.55 lies far above the true value of 0.",
          "In the simulation the truth is 0 and estimates like 0.55 occur routinely."),
        O("It proves the simulation is wrong, since a correct simulation would reproduce the estimate of 0.55.",
          "A correct simulation reproduces the spread of estimates, not one particular estimate."),
        O("It shows the REML estimate is biased upward, so the true correlation must be lower than 0.55.",
          "One estimate cannot show bias; the simulated estimates centre near 0.1, and the spread dominates."),
    ), "a"),
    # ---------------------------------------------------------------- 5 p-values
    Q("05.1", "Why does lme4's summary print no p-values for the fixed effects?", (
        O("The t statistics are not exactly t-distributed, with no agreed df.",
          "Satterthwaite and Kenward-Roger are two approximations to the missing df (Chapter 5)."),
        O("Mixed models cannot test fixed effects at all; only variance components can be tested.",
          "Fixed effects can be tested, by likelihood ratio, with approximate df, or by bootstrap."),
        O("The p-values would always be too small, so lme4 hides them to protect careless users.",
          "They are not always too small; the difficulty is that their exact reference distribution is unknown."),
        O("Fixed effects are random variables in a mixed model, so testing them makes no sense.",
          "Fixed effects are fixed parameters; it is the cluster effects that are random."),
    ), "a"),
    Q("05.2", "A likelihood-ratio test of a random-intercept variance (is it zero?) gives a naive p-value of 0.08 "
              "on 1 df. Which p-value is closer to right?", (
        O("0.16, because a variance can move either way, so the test is really a two-sided test.",
          "A variance cannot be negative, so only one direction exists."),
        O("0.08 exactly: the chi-square approximation holds for any parameter tested in any model.",
          "It does not hold when the null value sits on the boundary of the parameter space."),
        O("About 0.04: on the boundary the reference is a 50:50 mix of chi-square(0) and chi-square(1).",
          "Halving the naive p-value is the standard boundary correction for one variance."),
        O("None: the test cannot be run at all, as a variance of zero lies outside the model.",
          "Zero is on the boundary, inside the allowed range; the test runs, with a different reference."),
    ), "c"),
    # ---------------------------------------------------------------- 6 BLUPs
    Q("06.1", "Cluster A has 2 observations, cluster B 50; both raw means lie 10 units above the grand mean. "
              "How do their conditional modes compare?", (
        O("Both are 10: a conditional mode is the cluster's raw deviation from the grand mean.",
          "The raw deviation is multiplied by the shrinkage factor, which is below 1."),
        O("A's is closer to zero than B's: fewer data, more shrinkage.",
          "k = tau^2 / (tau^2 + sigma^2 / n) is smaller for n = 2 than for n = 50."),
        O("B's is closer to zero than A's, because a large cluster weighs more toward the mean.",
          "A large cluster carries more information about itself and so keeps more of its own deviation."),
        O("Both are 0, because the conditional modes of a random intercept always average zero.",
          "They average about zero across clusters, not within each one."),
    ), "b"),
    Q("06.2", "A colleague regresses the subjects' conditional modes on age in a second step. What is wrong?", (
        O("Conditional modes cannot be extracted from a fitted mixed model, so no such data exist.",
          "They can: ranef() returns them."),
        O("Nothing: conditional modes are the best estimate of each subject and behave like data.",
          "They are predictions, shrunk by different amounts and with different uncertainty."),
        O("Age must be standardised before any regression on conditional modes can be run.",
          "Scaling age changes nothing about the real problem."),
        O("The modes are shrunk and unequally precise; put age in the mixed model.",
          "A subject-level covariate belongs in the model, where its uncertainty is handled properly."),
    ), "d"),
    # ---------------------------------------------------------------- 7 convergence
    Q("07.1", "Which of these is a legitimate optimum that just happens to lie on the boundary?", (
        O("A fit stopped with 'maxeval was reached', as the search ran out of evaluations.",
          "The optimiser stopped before its own criterion said it had arrived."),
        O("A fit reporting 'degenerate Hessian with 1 negative eigenvalues' when it ends.",
          "A negative eigenvalue says the point is not a minimum at all."),
        O("A singular fit with a variance estimated at exactly zero.",
          "The optimiser worked; the data put the best value on the edge (Dyestuff2, Chapter 7)."),
        O("A fit reporting 'failed to converge with max|grad| = 0.27' at its final point.",
          "A clearly non-zero gradient means the criterion can still be improved."),
    ), "c"),
    Q("07.2", "A random slope for a covariate that never varies within subjects gives a singular fit. "
              "What is the fix?", (
        O("Drop that random slope; keep the covariate as a fixed effect.",
          "The data hold no information about a within-subject slope of a covariate that is constant within subjects."),
        O("Switch to the Nelder-Mead optimiser, which explores the parameter space more thoroughly.",
          "The optimum really is on the boundary; another optimiser finds the same boundary."),
        O("Raise the iteration limit tenfold so that the optimiser can reach the real optimum.",
          "The optimiser already reached the optimum; more iterations change nothing."),
        O("Replace `|` by `||`, which removes the correlation that caused the singular fit.",
          "Chapter 7 shows the || fit is still singular, or nearly unidentifiable on the raw scale."),
    ), "a"),
    # ---------------------------------------------------------------- 8 GLMMs
    Q("08.1", "A logistic GLMM reports a herd variance of 0.41 on the logit scale. "
              "What is the latent-scale ICC?", (
        O("0.41, since on the logit scale a variance is already a share of the total.",
          "A variance is not a proportion; it must be compared with the latent residual variance."),
        O("0.29, the variance over 0.41 + 1, with a residual variance of one as in probit models.",
          "The probit latent residual variance is 1; the logit one is pi^2 / 3."),
        O("It cannot be computed, because a logistic model has no residual variance of its own.",
          "The latent-variable reading supplies one: the variance of the standard logistic distribution."),
        O("0.41 / (0.41 + pi^2/3), about 0.11.",
          "pi^2 / 3 is about 3.29, the variance of the standard logistic distribution."),
    ), "d"),
    Q("08.2", "When does adaptive quadrature (nAGQ > 1) matter most compared with the Laplace approximation?", (
        O("For linear mixed models with many observations per cluster and normal errors.",
          "A linear mixed model's likelihood is exact; there is nothing to approximate."),
        O("For binary data with few observations per cluster.",
          "That is where the conditional likelihood is least like a normal curve and Laplace is least accurate."),
        O("For models with crossed random effects, where quadrature is the only available method.",
          "Quadrature works only with a single scalar random effect; crossed models need Laplace."),
        O("For Poisson data with large counts, where the Laplace approximation always breaks down.",
          "With large counts the Laplace approximation is very good."),
    ), "b"),
    Q("08.3", "A Poisson GLMM has a sum of squared Pearson residuals far above its residual degrees of freedom. "
              "What does that suggest?", (
        O("The model fits too well, and one of its random effects should be removed.",
          "A large ratio means more variation than the model allows, not less."),
        O("The link function must be changed from the log link to the identity link.",
          "The link is not the problem; the variance assumption is."),
        O("Overdispersion: add an observation-level random effect, or use a negative binomial.",
          "Both give the counts more variance than the Poisson mean allows (Chapter 8)."),
        O("Nothing: a ratio far above one is normal for count data and can be ignored.",
          "Ignoring it makes standard errors too small."),
    ), "c"),
    # ---------------------------------------------------------------- 9 worked example
    Q("09.1", "Which interval describes where a new person's reaction time will lie after 5 days?", (
        O("The 95% confidence band of the population curve, because it already covers all subjects.",
          "The band describes the average person's curve and leaves out between-person variation."),
        O("The Wald interval of the fixed effects, because it depends on the fitted model alone.",
          "It is an interval for parameters, not for a new observation."),
        O("A prediction interval adding between-subject and residual variation.",
          "A new person brings their own intercept and slope and their own day-to-day noise (Section 9.9)."),
        O("`predict(..., allow_new_levels=True)` plus or minus two residual standard deviations.",
          "For a new level the random effects are set to zero, so the between-subject variation is missing."),
    ), "c"),
    Q("09.2", "Why is the least-squares slope identical to the mixed model's slope in sleepstudy?", (
        O("Because REML and least squares are the same estimator whenever the response is continuous.",
          "They differ in general; with unbalanced data the two slopes move apart (exercise 2)."),
        O("Because the random slopes have a variance of zero, which turns the model into a least-squares fit.",
          "The slope SD is 5.9 ms per day, far from zero."),
        O("Because mixedlite fits the fixed effects by least squares before estimating any variances.",
          "It uses generalised least squares given the variances."),
        O("Every subject is measured on the same ten days.",
          "In a balanced design the generalised and ordinary least-squares slopes coincide."),
    ), "d"),
    # ---------------------------------------------------------------- 10 reporting
    Q("10.1", "A draft reports 'b = -1.43, t = -15.55, p < .001'. What should be added first?", (
        O("The optimiser's settings, including the starting values of the variance parameters.",
          "Useful for reproducibility, but a reader cannot judge the effect without the other items."),
        O("Every clinic's conditional mode, in a table accompanying the main text of the paper.",
          "Rarely needed; a caterpillar plot in a supplement would do."),
        O("The full covariance matrix of the fixed-effect estimates, so readers can test contrasts.",
          "Rarely needed in the text."),
        O("The df and its method, a confidence interval and the convergence status.",
          "A t without df hides the approximation behind p; the interval gives the size; convergence is checkable."),
    ), "d"),
    Q("10.2", "The intercept-slope correlation is +0.55 and the average slope of therapy sessions is negative. "
              "What does that say?", (
        O("Clinics with higher baseline anxiety show stronger, more negative effects of therapy.",
          "A positive correlation moves slopes toward zero where intercepts are high: weaker effects."),
        O("Higher-baseline clinics have slopes nearer zero: weaker effects.",
          "The plot of Section 10.2 shows it directly."),
        O("Therapy raises anxiety in clinics with a high baseline, because the correlation is positive.",
          "Every clinic's slope is still negative (from -1.92 to -1.02); they only differ in steepness."),
        O("Nothing about direction, because correlations of random effects have no meaningful sign.",
          "The sign is meaningful; reading it needs the sign of the average slope too."),
    ), "b"),
    # ---------------------------------------------------------------- 11 within and between
    Q("11.1", "In the Mundlak model y ~ x + mean_x + (1 | cluster), what does the coefficient of mean_x estimate?", (
        O("The between-cluster slope: how cluster means of y change with cluster means of x.",
          "That is the coefficient of the cluster mean in the within-between model, where x is centred."),
        O("The within-cluster slope, once the cluster means have been held fixed in the model.",
          "The within slope is the coefficient of x itself."),
        O("The contextual effect: between slope minus within slope.",
          "With the raw x in the model, the cluster mean adds only what the between relation has beyond the within one."),
        O("Nothing useful, since mean_x is perfectly collinear with the random intercept of the cluster.",
          "A fixed cluster-level covariate and a random intercept can both be estimated; only a fixed effect per cluster would clash."),
    ), "c"),
    Q("11.2", "Across 50 countries, average income correlates positively with a disease rate. What can you conclude "
              "about individuals?", (
        O("Richer people are more likely to get the disease, as the positive correlation shows.",
          "That is the ecological fallacy: a relation between averages is read as one between people."),
        O("Poorer people are more likely to get the disease, because country data reverse the sign.",
          "Country data do not reverse the sign as a rule; they just do not say."),
        O("The same relation holds for individuals, provided the countries were sampled at random.",
          "Random sampling of countries makes the country-level relation generalisable, not individual-level."),
        O("Little: between-country relations say nothing definite about people.",
          "The individual-level relation needs individual-level data, within countries (Robinson, 1950)."),
    ), "d"),
    Q("11.3", "Within every clinic more sessions lower anxiety, but clinics with more sessions are more anxious. "
              "What does a single-slope random-intercept model estimate?", (
        O("The within-clinic slope exactly, because the random intercept removes all clinic differences.",
          "A random intercept does not absorb the clinic means of x; the slope still mixes both relations."),
        O("A blend of the two slopes that need not equal either of them.",
          "In Section 11.2 the single slope centres near -0.6 while the within slope is -1.5."),
        O("The between-clinic slope, since the clinic level is the one that the random effect describes.",
          "The slope uses within-clinic information too; it is a weighted mix."),
        O("Zero, because the two opposite relations cancel out in the random-intercept model.",
          "They do not cancel; they are weighted by their precision."),
    ), "b"),
    # ---------------------------------------------------------------- 12 simulate and recover
    Q("12.1", "You simulate data with a true site-slope correlation of 0, fit, and get 0.55. What is the best reading?", (
        O("The fitting routine is wrong, because an estimate so far from the truth signals a bug.",
          "With 20 sites a correlation of random effects scatters widely; a repeated simulation shows it."),
        O("The simulation must be wrong, since a correlation of zero cannot produce an estimate of 0.55.",
          "Random draws of 20 site effects can easily show a sample correlation far from zero."),
        O("An ordinary draw: 20 sites estimate such a correlation poorly.",
          "Repeating the simulation many times shows how widely the estimate scatters around the truth."),
        O("The true correlation must really be 0.55, because the estimate is unbiased in large samples.",
          "Large-sample properties say little with 20 groups, and the truth here is known to be 0."),
    ), "c"),
    Q("12.2", "In a simulation study, the 95% Wald interval of a between-site slope covers the truth in 91% of "
              "300 replicates. What does that suggest?", (
        O("Nothing: 91% and 95% differ only by chance with 300 replicates, which is easily explained.",
          "The Monte Carlo SE of a 95% rate with 300 replicates is about 1.3 points; 4 points is about three SEs."),
        O("The Wald interval is a little too narrow; use t with df based on the sites.",
          "The normal quantile ignores that the SE is estimated from few sites (Chapter 5)."),
        O("The estimates must be biased, because otherwise a 95% interval always covers exactly 95%.",
          "Intervals can undercover with unbiased estimates when the SE is itself uncertain."),
        O("The model needs more random effects, since undercoverage always means a missing variance.",
          "Here the model is the true one; the shortfall comes from the interval's approximation."),
    ), "b"),
    # ---------------------------------------------------------------- 13 crossed designs
    Q("13.1", "In Section 13.2, 'base vs + class' and '+ school vs + school + class' both add the same three class "
              "dummies, yet give F = 18.1 and F = 820.9. Why do they differ so much?", (
        O("The second also adds the school-by-class interaction, and so tests many more contrasts.",
          "Both add only classb, classc and classd (Df = 3 in both rows); the interaction is the fourth "
          "comparison, with 15 df."),
        O("Classes are spread unevenly over the schools, so the first comparison mixes schools and classes.",
          "Every school-class cell holds 50 students (the cross-tabulation of 13.1), and the class dummies add "
          "almost the same sum of squares in both rows (5274 and 5329)."),
        O("The second has more denominator df, and more df make an F statistic larger.",
          "It has fewer (1188 against 1193), and five df cannot change F forty-fold."),
        O("The first judges classes against residuals that still hold the school differences.",
          "Its residual SD is 9.87 against 1.47 once schools are in: about the same class sum of squares, divided "
          "by a residual variance 45 times larger."),
    ), "d"),
    Q("13.2", "A colleague fits `attainment ~ deprivation + (1 | school)` to the town data of Section 13.4 and "
              "reports the deprivation effect with its standard error. What is wrong?", (
        O("The SE is too small: the pupils, not the 40 neighbourhoods, count as the evidence.",
          "In the 60 simulated towns the schools-only SE averaged 0.203 against an actual spread of 0.438 "
          "(ratio 0.46); the crossed model's ratio was 1.09."),
        O("The SE is too large, since the neighbourhood variance now sits in the residual and inflates it.",
          "The residual SD does grow (6.45 against 6.02 on average), but the reported SE falls to less than half "
          "the actual spread of the estimates."),
        O("The estimate is biased towards zero, but its standard error can be trusted.",
          "Over 60 towns both models average about -1.9 against a true -2, alike; the fault is in the precision "
          "claimed, not in the estimate."),
        O("Nothing: leaving out a random effect changes the variance components, never the SEs.",
          "The neighbourhood variance moves to the school SD and the residual, and the SE of a "
          "neighbourhood-level predictor is judged against the wrong variation."),
    ), "a"),
    Q("13.3", "Suppose every child attended the one school that serves their neighbourhood. What would the "
              "cross-tabulation of neighbourhood by school show?", (
        O("Every cell filled: a fully crossed design, fitted with (1 | school) + (1 | hood).",
          "A fully crossed design needs each neighbourhood to send pupils to every school; here each sends them "
          "to one."),
        O("One non-empty cell in each neighbourhood row: neighbourhoods nested in schools.",
          "(1 | school/hood) then separates the two variances if schools serve several neighbourhoods, but the "
          "school effect becomes that of a catchment area; with one neighbourhood per school only their sum "
          "is identified."),
        O("A band along the diagonal, as in Section 13.4: a partially crossed design.",
          "That band comes from neighbourhoods sending pupils to 4 to 10 schools; with one school per "
          "neighbourhood each row keeps a single cell."),
        O("One non-empty cell in each school column: schools nested in neighbourhoods.",
          "A school can serve several neighbourhoods, so a column may hold several cells; it is each "
          "neighbourhood row that has one."),
    ), "b"),
    # ---------------------------------------------------------------- 14 overdispersed counts
    Q("14.1", "A Poisson GLMM of 400 counts with a random intercept for site gives a Pearson ratio of 1.9. A "
              "colleague says the random intercept already takes care of extra variation. What is the best reply?", (
        O("The intercept models variation between sites; the ratio measures it within sites.",
          "Pearson residuals are computed given the site effects, so 1.9 says counts vary almost twice as much "
          "within sites as the Poisson allows: use a negative binomial or (1 | obs)."),
        O("Agreed: the intercept absorbs all the extra variation, so the ratio can be ignored.",
          "In Section 14.2 the Poisson GLMM had its cluster intercept, a ratio of 2.76, and standard errors about "
          "half the actual spread of its estimates (Section 14.3)."),
        O("With 400 counts a ratio of 1.9 is within chance; worry only above about 3.",
          "With about 400 residual df a correct Poisson model's ratio scatters around 1 with an SD below 0.1 for "
          "moderate means; 1.9 is far outside that, and no rule sets a threshold of 3."),
        O("Add a random slope of x by site, so that the variance can grow with x.",
          "A random slope still varies between sites only; given its site's line, each count would remain "
          "Poisson."),
    ), "a"),
    Q("14.2", "In Section 14.2 the negative-binomial intercept is 1.244 and the observation-level model's 1.016 "
              "(the truth is 1). Which estimates the log of the mean count at x = 0 of a cluster with u = 0?", (
        O("The observation-level model's, since its lognormal multiplier has mean 1.",
          "The lognormal multiplier has median 1; its mean is exp(sigma_e^2 / 2), so this intercept sits lower "
          "by about sigma_e^2 / 2."),
        O("Both equally: the gap of 0.227 between them is the sampling error of one data set.",
          "Both were fitted to the same counts; the gap is close to half the observation-level variance (0.252), "
          "a difference in what the two intercepts mean."),
        O("The observation-level model's, because 1.016 is closer to the true value of 1.",
          "Closeness in one draw does not settle what a parameter means: the counts were simulated from the "
          "negative binomial, and the observation-level intercept targets a median-type quantity."),
        O("The negative binomial's, since its gamma multiplier has mean 1.",
          "So exp(b0) is the mean count at x = 0 for u = 0; the lognormal multiplier of (1 | obs) has median 1, "
          "and that model's mean is exp(b0 + sigma_e^2 / 2)."),
    ), "d"),
    Q("14.3", "For counts that are almost Poisson, what do you expect of the negative-binomial theta, and what "
              "does `ml.glmer_nb` do?", (
        O("Large, at an edge of its search; glmer_nb warns that the counts look Poisson.",
          "The variance mu + mu^2 / theta approaches the Poisson's mu as theta grows; at the edge of the "
          "interval mixedlite warns and suggests the simpler Poisson GLMM."),
        O("Close to 0, since little overdispersion leaves little extra variance to estimate.",
          "A small theta makes mu^2 / theta large: strong overdispersion (theta was 1.91 on the simulated counts "
          "and 3.30 on the ticks)."),
        O("Close to 1, the value at which the negative binomial reduces to the Poisson.",
          "With theta = 1 the variance is mu + mu^2 (a geometric distribution); the Poisson is the limit of "
          "large theta."),
        O("Close to the mean count, so that the variance mu + mu^2 / theta equals the mean.",
          "With theta = mu the variance is 2 mu, twice the Poisson's; no finite theta gives the Poisson back "
          "exactly."),
    ), "a"),
]
