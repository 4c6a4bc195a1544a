# The demo stroke registry's results as an R analyst would compute them: data.table + glm.
#
#   Rscript benchmarks/baseline.R registrations.csv units.csv indicators.csv results.csv
#
# benchmarks/engine.py writes the three inputs (the registrations' columns that the
# indicators use, the unit tree, and one row per indicator with its type, targets, minimum,
# risk model and funnel setting), runs this script, and compares results.csv with
# indicators.compute_results. The indicators' expressions are written out by hand below.
# It follows the engine's documented definitions (docs/methods.md, indicators/risk.py): a
# comparison with a blank is unknown and unknown is "not in"; a missing numeric covariate is
# set to the period's median and flagged by `<name>_missing`, a missing category is the
# level "missing", the reference level is the most frequent one, and terms that do not vary
# in the period are left out; O/E has exact Poisson limits below 10 observed and Byar's from
# 10; funnels are Spiegelhalter's (FunnelPlotR's defaults); suppression hides the smallest
# shown sibling until no parent-children sum has exactly one hidden member.
#
# Prints `read_seconds=` and `compute_seconds=` (wall clock, reading the CSV files apart).
# Needs only Debian's r-base-core and r-cran-data.table.

suppressPackageStartupMessages(library(data.table))
setDTthreads(0L)
invisible(Sys.setlocale("LC_COLLATE", "C"))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 4) {
  stop("usage: Rscript baseline.R registrations.csv units.csv indicators.csv results.csv")
}
clock <- function() proc.time()[["elapsed"]]

started <- clock()
registrations <- fread(args[1], colClasses = list(numeric = "unit_id"))
units <- fread(args[2], colClasses = list(numeric = c("unit_id", "parent_id")))
definitions <- fread(args[3], na.strings = "", colClasses = list(character = c("covariates", "categorical", "expected")))
read_seconds <- clock() - started
started <- clock()

LEVELS <- c("nation", "region", "trust", "hospital", "department")
Z95 <- qnorm(0.975)

yes <- function(x) !is.na(x) & x # unknown counts as "not in"
everyone <- function(d) rep(TRUE, nrow(d))

denominators <- list(
  thrombolysis = function(d) yes(with(d, stroke_type == 1 & age >= 18 & age <= 80 &
    onset_known == 1 & onset_to_arrival_minutes >= 0 & onset_to_arrival_minutes <= 240)),
  door_to_needle_40 = function(d) yes(d$thrombolysis == 1) & !is.na(d$door_to_needle_minutes),
  door_to_needle_median = function(d) yes(d$thrombolysis == 1),
  stroke_unit = everyone,
  swallow_screening = everyone,
  antithrombotic_discharge = function(d) yes(d$stroke_type == 1 & d$died_in_hospital == 0),
  anticoagulant_atrial_fibrillation = function(d) {
    yes(d$stroke_type == 1 & d$atrial_fibrillation == 1 & d$died_in_hospital == 0)
  },
  survival_30_days = everyone,
  followup_3m = function(d) yes(d$alive_30_days == 1),
  independent_3m = function(d) yes(d$followup_done == 1 & d$prestroke_mrs <= 2),
  length_of_stay = function(d) yes(d$died_in_hospital == 0),
  prom_response_3m = function(d) yes(d$prom_3m_invited == 1),
  eq5d_index_3m = function(d) yes(d$prom_3m_answered == 1) & !is.na(d$eq5d_index_3m)
)
numerators <- list(
  thrombolysis = function(d) yes(d$thrombolysis == 1),
  door_to_needle_40 = function(d) yes(d$door_to_needle_minutes <= 40),
  stroke_unit = function(d) yes(d$stroke_unit == 1),
  swallow_screening = function(d) yes(d$swallow_screening == 1),
  antithrombotic_discharge = function(d) yes(d$antithrombotic_discharge == 1),
  anticoagulant_atrial_fibrillation = function(d) yes(d$anticoagulant_discharge == 1),
  survival_30_days = function(d) yes(d$alive_30_days == 1),
  followup_3m = function(d) yes(d$followup_done == 1),
  independent_3m = function(d) yes(d$mrs_3m <= 2),
  prom_response_3m = function(d) yes(d$prom_3m_answered == 1)
)
value_columns <- c(
  door_to_needle_median = "door_to_needle_minutes", length_of_stay = "length_of_stay",
  eq5d_index_3m = "eq5d_index_3m"
)

unknown <- setdiff(definitions$key, names(denominators))
if (length(unknown)) stop("the R baseline has no hand-written definition of ", toString(unknown))

# Each registering unit with its ancestor at every level.
tree <- units[, .(unit_id, parent_id, level)]
pairs <- tree[, .(unit_id, ancestor_id = unit_id)]
found <- list(pairs)
for (step in seq_along(LEVELS)[-1]) {
  pairs <- merge(pairs, tree[, .(ancestor_id = unit_id, parent_id)], by = "ancestor_id")
  pairs <- pairs[!is.na(parent_id), .(unit_id, ancestor_id = parent_id)]
  found[[step]] <- pairs
}
pairs <- merge(rbindlist(found), tree[, .(ancestor_id = unit_id, level)], by = "ancestor_id")
wide <- dcast(pairs, unit_id ~ level, value.var = "ancestor_id")
for (absent in setdiff(LEVELS, names(wide))) wide[, (absent) := NA_real_]

data <- registrations[, period := year(as.IDate(event_date))][!is.na(period)]
data <- merge(data, wide, by = "unit_id", all.x = TRUE)

# `j` evaluated per unit and year at every level; `j` is quoted and sees the rows' columns.
by_level <- function(rows, j) {
  rbindlist(lapply(LEVELS, function(lvl) {
    found <- rows[, eval(j), by = c(lvl, "period")]
    setnames(found, lvl, "unit_id")
    found[!is.na(unit_id)][, level := lvl]
  }), use.names = TRUE)
}

median_interval <- function(v) {
  x <- sort(v)
  n <- length(x)
  j <- qbinom(0.025, n, 0.5)
  k <- n + 1 - j
  j <- min(max(j, 1), n)
  k <- min(max(k, 1), n)
  list(estimate = (x[(n - 1) %/% 2 + 1] + x[n %/% 2 + 1]) / 2, lower = x[j], upper = x[k])
}

counts <- function(data, def) {
  counted <- data[denominators[[def$key]](data)]
  if (def$type == "proportion") {
    counted[, hit := as.integer(numerators[[def$key]](counted))]
    found <- by_level(counted, quote(list(denominator = .N, numerator = sum(hit))))
    found[, estimate := numerator / denominator]
    half <- with(found, Z95 * sqrt(Z95^2 + 4 * numerator * (1 - numerator / denominator)))
    found[, lower := (2 * numerator + Z95^2 - half) / 2 / (denominator + Z95^2)]
    found[, upper := (2 * numerator + Z95^2 + half) / 2 / (denominator + Z95^2)]
    return(found)
  }
  counted[, v := get(value_columns[[def$key]])]
  known <- counted[!is.na(v)]
  if (def$type == "mean") {
    found <- by_level(known, quote(list(denominator = .N, estimate = mean(v), sd = sd(v))))
    found[, half := qt(0.975, denominator - 1) * sd / sqrt(denominator)]
    found[denominator < 2, half := NA_real_]
    found[, `:=`(lower = estimate - half, upper = estimate + half, sd = NULL, half = NULL)]
    return(found)
  }
  by_level(known, quote(c(list(denominator = .N), median_interval(v))))
}

# Each registration's expected outcome from the nation's model of its year.
predict_expected <- function(rows, def) {
  covariates <- strsplit(def$covariates, ";", fixed = TRUE)[[1]]
  categorical <- if (is.na(def$categorical)) character() else strsplit(def$categorical, ";", fixed = TRUE)[[1]]
  family <- if (def$family == "binomial") binomial() else poisson()
  expected <- numeric(nrow(rows))
  for (p in sort(unique(rows$period))) {
    at <- which(rows$period == p)
    year <- rows[at]
    terms <- character()
    for (name in covariates) {
      if (name %in% categorical) {
        level <- ifelse(is.na(year[[name]]), "missing", as.character(year[[name]]))
        frequency <- data.table(level = level)[, .N, by = level][order(-N, level)]
        if (nrow(frequency) > 1) {
          set(year, j = name, value = relevel(factor(level), ref = frequency$level[1]))
          terms <- c(terms, name)
        }
      } else {
        value <- as.numeric(year[[name]])
        missing <- is.na(value)
        filled <- median(value, na.rm = TRUE)
        value[missing] <- if (is.na(filled)) 0 else filled
        set(year, j = name, value = value)
        set(year, j = paste0(name, "_missing"), value = as.numeric(missing))
        if (length(unique(value)) > 1) terms <- c(terms, name)
        if (length(unique(missing)) > 1) terms <- c(terms, paste0(name, "_missing"))
      }
    }
    formula <- as.formula(paste("outcome ~", if (length(terms)) paste(terms, collapse = " + ") else "1"))
    fit <- glm(formula, family = family, data = year)
    expected[at] <- fitted(fit)
  }
  expected
}

observed_expected <- function(data, def) {
  rows <- data[denominators[[def$key]](data)]
  if (def$type == "proportion") {
    rows[, outcome := as.numeric(numerators[[def$key]](rows))]
  } else {
    rows[, outcome := get(value_columns[[def$key]])]
    rows <- rows[!is.na(outcome)]
  }
  if (!is.na(def$expected)) {
    rows[, predicted := as.numeric(get(def$expected))]
    rows <- rows[!is.na(predicted)]
  } else {
    rows[, predicted := predict_expected(rows, def)]
  }
  by_level(rows, quote(list(observed = sum(outcome), expected = sum(predicted))))
}

poisson_exact <- function(x, confidence) {
  alpha <- (1 - confidence) / 2
  list(ifelse(x > 0, qchisq(alpha, 2 * x) / 2, 0), qchisq(1 - alpha, 2 * x + 2) / 2)
}

byar <- function(x) {
  lower <- x * (1 - 1 / (9 * x) - Z95 / (3 * sqrt(x)))^3
  upper <- (x + 1) * (1 - 1 / (9 * (x + 1)) + Z95 / (3 * sqrt(x + 1)))^3
  list(ifelse(lower >= 0, lower, NA_real_), upper)
}

# DerSimonian-Laird tau^2 from (winsorised or truncated) z-scores.
dispersion <- function(z, w) {
  keep <- is.finite(z)
  z <- z[keep]
  w <- w[keep]
  m <- length(z)
  if (m < 2) return(0)
  phi <- mean(z^2)
  if (m * phi < m - 1) return(0)
  max(0, (m * phi - (m - 1)) / (sum(w) - sum(w^2) / sum(w)))
}

funnel_limits <- function(x, n, o, e, adjusted, overdispersion) {
  limits <- list()
  if (adjusted) {
    z <- sqrt(e) * log(o / e)
    group <- floor(rank(z) * 10 / (length(z) + 1))
    tau2 <- if (overdispersion) dispersion(ifelse(group > 0 & group < 9, z, NA), e) else 0
    for (confidence in c(0.95, 0.998)) {
      if (tau2 > 0) {
        zc <- qnorm(0.5 + confidence / 2)
        bounds <- list(exp(-zc * sqrt(1 / e + tau2)), exp(zc * sqrt(1 / e + tau2)))
      } else {
        bounds <- lapply(poisson_exact(e, confidence), function(limit) limit / e)
      }
      limits <- c(limits, bounds)
    }
    value <- o / e
  } else {
    target <- sum(x) / sum(n)
    angle <- asin(sqrt(target))
    s <- 1 / (2 * sqrt(n))
    z <- (asin(sqrt(x / n)) - angle) / s
    trimmed <- quantile(z, c(0.1, 0.9), names = FALSE)
    z <- pmin(pmax(z, trimmed[1]), trimmed[2])
    tau2 <- if (overdispersion) dispersion(z, 1 / s^2) else 0
    for (confidence in c(0.95, 0.998)) {
      zc <- qnorm(0.5 + confidence / 2)
      spread <- zc * sqrt(s^2 + tau2)
      limits <- c(limits, list(
        sin(pmin(pmax(angle - spread, 0), pi / 2))^2,
        sin(pmin(pmax(angle + spread, 0), pi / 2))^2
      ))
    }
    value <- x / n
  }
  names(limits) <- c("funnel_lower_95", "funnel_upper_95", "funnel_lower_998", "funnel_upper_998")
  position <- fcase(
    value > limits$funnel_upper_998, "high_998",
    value > limits$funnel_upper_95, "high_95",
    value < limits$funnel_lower_998, "low_998",
    value < limits$funnel_lower_95, "low_95",
    default = "within"
  )
  position[is.na(value) | is.na(limits$funnel_lower_95) | is.na(limits$funnel_upper_95)] <- NA
  c(limits, list(funnel_position = position))
}

indicator_results <- function(data, def) {
  results <- counts(data, def)
  adjusted <- !is.na(def$family) || !is.na(def$expected)
  if (adjusted) {
    results <- merge(results, observed_expected(data, def), by = c("unit_id", "period", "level"), all.x = TRUE)
    exact <- poisson_exact(results$observed, 0.95)
    byars <- byar(results$observed)
    small <- results$observed < 10
    results[, oe_ratio := observed / expected]
    results[, oe_lower := ifelse(small, exact[[1]], byars[[1]]) / expected]
    results[, oe_upper := ifelse(small, exact[[2]], byars[[2]]) / expected]
    nation <- results[level == "nation", .(period, national = estimate)]
    results <- merge(results, nation, by = "period", all.x = TRUE)
    results[, risk_standardised := oe_ratio * national][, national := NULL]
  } else {
    results[, c("observed", "expected", "oe_ratio", "oe_lower", "oe_upper", "risk_standardised") := NA_real_]
  }
  if (!"numerator" %in% names(results)) results[, numerator := NA_integer_]
  results[, `:=`(indicator = def$key, min_denominator = def$min_denominator, coverage = NA_real_)]
  judged <- if (adjusted) results$risk_standardised else results$estimate
  results[, achievement := NA_character_]
  if (!is.na(def$target_high)) {
    higher <- def$direction == "higher"
    reaches_high <- if (higher) judged >= def$target_high else judged <= def$target_high
    misses_moderate <- if (higher) judged < def$target_moderate else judged > def$target_moderate
    level_found <- fifelse(reaches_high, "high", fifelse(misses_moderate, "low", "moderate"))
    results[, achievement := fifelse(denominator >= def$min_denominator & !is.na(judged), level_found, NA_character_)]
  }
  results[, c("funnel_lower_95", "funnel_upper_95", "funnel_lower_998", "funnel_upper_998") := NA_real_]
  results[, funnel_position := NA_character_]
  if (adjusted || def$type == "proportion") {
    results[, c("funnel_lower_95", "funnel_upper_95", "funnel_lower_998", "funnel_upper_998", "funnel_position") :=
      if (.N >= 2) funnel_limits(as.numeric(numerator), as.numeric(denominator), observed, expected, adjusted, def$overdispersion)
      else list(NA_real_, NA_real_, NA_real_, NA_real_, NA_character_),
      by = .(period, level)]
  }
  results
}

# Primary suppression, then secondary until no parent-children sum has exactly one hidden member.
suppress <- function(results) {
  rows <- merge(
    results[, .(row = .I, indicator, period, unit_id, denominator, min_denominator)],
    tree[, .(unit_id, parent_id)], by = "unit_id", all.x = TRUE
  )
  rows[, hidden := denominator < min_denominator]
  setorder(rows, denominator, unit_id)
  repeat {
    sums <- rows[!is.na(parent_id), .(
      hidden_children = sum(hidden), children = .N, smallest_shown = unit_id[!hidden][1]
    ), by = .(indicator, period, parent_id)]
    parents <- rows[, .(indicator, period, parent_id = unit_id, parent_hidden = hidden, grandparent_id = parent_id)]
    sums <- merge(sums, parents, by = c("indicator", "period", "parent_id"), all.x = TRUE)
    sums <- sums[hidden_children + parent_hidden == 1]
    sums[, unit_id := fifelse(
      hidden_children < children, smallest_shown,
      fifelse(!parent_hidden & !is.na(grandparent_id), parent_id, NA_real_)
    )]
    targets <- unique(sums[!is.na(unit_id), .(indicator, period, unit_id)])
    newly <- rows[targets, on = .(indicator, period, unit_id), nomatch = NULL][!(hidden), row]
    if (!length(newly)) break
    rows[row %in% newly, hidden := TRUE]
  }
  rows[order(row), hidden]
}

results <- rbindlist(lapply(seq_len(nrow(definitions)), function(i) indicator_results(data, definitions[i])), use.names = TRUE)
results[, suppressed := suppress(results)]
results[, order := match(indicator, definitions$key)]
results[, level_order := match(level, LEVELS)]
setorder(results, order, period, level_order, unit_id)
compute_seconds <- clock() - started

columns <- c(
  "indicator", "period", "unit_id", "level", "numerator", "denominator", "estimate", "lower",
  "upper", "achievement", "coverage", "suppressed", "observed", "expected", "oe_ratio",
  "oe_lower", "oe_upper", "risk_standardised", "funnel_lower_95", "funnel_upper_95",
  "funnel_lower_998", "funnel_upper_998", "funnel_position"
)
fwrite(results[, ..columns], args[4], na = "")
cat(sprintf("read_seconds=%.4f\ncompute_seconds=%.4f\n", read_seconds, compute_seconds))
