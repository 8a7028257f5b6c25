"""The prose of Chapter 2 that quotes computed numbers: templates for :func:`lib.notebook.say`.

Each template is filled by ``say(TEMPLATE, **values)`` with the dicts of :mod:`.chapter`'s ``*_summary``
functions (``{{`` and ``}}`` are literal braces). Kept out of the notebook so that it reads as a lecture; not
imported by the experiments, so editing the prose never invalidates cached results.
"""

from __future__ import annotations

#: Experiment 1: condition (C1), what the runs show.
CONDITION_ONE = r"""
**What the runs show.** With $N$ = {n} images ($NK$ = {nk}) the one-hidden-layer MLP's Gram matrix is
numerically full rank (λ₀ above $NK\,\varepsilon\,\lambda_{{\max}}$ in every seed) from width {first_full} on, the
CNN's from {cnn_first_full} channels (of at most {cnn_max}); at the smallest such widths $\lambda_0$ is tiny and the
condition number huge. At the widest width, {gram_wmax} = {m_over_nk:.1f} $NK$, the mean $\lambda_0$ is {ratios}
of its infinite-width value (per depth), still below it. Being below the limit is expected at every finite width
($\mathbb E\,\lambda_{{\min}}(G_0)\le\lambda_{{\min}}(\mathbb E\,G_0)$); how fast it approaches is measured by the gap
$1-\lambda_0/\lambda_0^\infty$ of the one-hidden-layer MLP, which falls with exponent {gap_slope} over widths
{gap_widths} (per-seed slopes, t-interval over seeds) — compare the $m^{{-1/2}}$ of the concentration heuristic. The
condition number at the widest width is {kappa:.0f}.
"""

#: Experiment 2: condition (C2) against width, split into activation flips and weight change.
CONDITION_TWO = r"""
**What the runs show.** ReLU network, $N$ = {n}, widths {wmin}–{wmax}, {seeds} seeds ({converged} of {runs}
trajectories reached a residual below $10^{{-8}}$ of the initial one). $C'$ falls with exponent {relu_total}, but
$\lambda_0$ still rises with width (exponent {relu_lam0_slope}), so the Jacobian change itself,
$\max_k\lVert J_{{\theta_k}}-J_0\rVert_2$, has exponent {relu_dj_total}: it {relu_dj_verdict} over these widths
(local slopes between neighbouring widths, noisy, with no trend read into them: {relu_local}). The premise of the
theory section holds: the distance travelled, $\max_k\lVert\theta_k-\theta_0\rVert_2$, has exponent
{relu_distance_slope} (softplus: {smooth_distance_slope}). Its activation part has exponent {relu_dj_activation}
(Frobenius norm: {relu_dj_activation_fro}), its smooth part {relu_dj_smooth} (Frobenius: {relu_dj_smooth_fro}); the
activation part's exponent is {relu_split_test}. The fraction of pre-activations that changed
sign falls from {flip_min:.3f} to {flip_max:.4f} (exponent {flip_slope}; the heuristic's premise is $-\tfrac12$).
The activation part's effective rank grows from {relu_rank_first:.0f} to {relu_rank_last:.0f} (at most $NK$ = {nk}),
which is why its spectral norm falls faster here than the Frobenius norm the heuristic is about. Softplus control:
$C'$ {smooth_total}, $\lVert J_\theta-J_0\rVert_2$ {smooth_dj_total} — it {smooth_dj_verdict}; its activation part
{smooth_dj_activation}, smooth part {smooth_dj_smooth}.

At width {w_last}, $C'$ = {c_at_wmax:.2f}. Each seed's own power law reaches $C'=\tfrac12$ at width {cross}
(geometric mean; seeds {cross_low} to {cross_high}). Extrapolating from the widest width with the two laws of the
theory section instead gives {cross_half} ($m^{{-1/2}}$) and {cross_quarter} (the flips' $m^{{-1/4}}$); we report the
range {cross_half} to {cross_quarter}, for $N$ = {n} images, as an extrapolation beyond the data; it extrapolates
$C'$, which contains $\lambda_0$ — at width {w_last} $\lambda_0$ is {lam_ratio:.2f} of its width → ∞ value for these
draws, so the range assumes that $\lambda_0$ has nearly stopped rising. Excluded as rank
deficient: {excluded}. The trajectory covers {rho_fraction_min:.2f} to {rho_fraction:.2f} of the radius $\rho$ of
(C2): the constant over the whole ball can only be larger.
"""

#: Experiment 2b: C' against the number of images, deeper MLPs and the CNN.
AGAINST_N = r"""
**What the runs show.** Against $N$ = {n_values}: at width {n_width_narrow}, $C'$ has exponent {n_narrow_slope}
and at width {n_width} {n_slope}. Part of that is $\lambda_0$ falling with $N$ (exponents {n_narrow_lam0_slope} and
{n_lam0_slope}); the Jacobian change itself grows with exponents {n_narrow_dj_slope} and {n_dj_slope}. {n_verdict}
Deeper ReLU MLPs: {depth_words}. The CNN: $C'$ = {cnn_words} ({cnn_rank}). At {cnn_channels_max} channels its
$\lambda_0$ is {cnn_lam0:.2g} (the one-hidden-layer MLP at width {w_last}: {mlp_lam0:.2g}), its Jacobian change is
{cnn_relative:.2f} of $\lVert J_0\rVert_2$ — {cnn_lazy} — its trajectory covers {cnn_rho:.2f} of $\rho$, and its
loss ends at {cnn_loss:.1e} of the initial one. Its small $\lambda_0$ dominates $C'$, and we compared it with no MLP
of matched size or $\lambda_0$: these numbers say that *this* CNN is far from (C2), not that convolutions are.
{c2_verdict}.
"""

#: Experiment 3: the full-batch teaching race.
TEACHING_RACE = r"""
**What the runs show.** NGD's residual (geometric mean over seeds) runs {ngd_steps}, down to a plateau of about
{plateau:.0e} set by float64 arithmetic. The constants $\lVert r_{{k+1}}\rVert/\lVert r_k\rVert^2$ of the first
three steps are {constants} and the local orders $\log(r_{{k+1}}/r_k)/\log(r_k/r_{{k-1}})$ of steps 2–3 are
{local_orders}: a pre-asymptotic phase, not yet a square law. The order is only measurable on the last step whose
result is still 100× above the run's float64 plateau: {order_words}. A bounded $r_{{k+1}}/r_k^2$ is what quadratic
convergence means; for an order $p<2$ it would grow like $r_k^{{p-2}}$ as the residual falls. So NGD converges
{order_verdict} — Gauss-Newton's local behaviour {{eq}}`eq-ch2-quadratic` — {smooth_words}; {order_caveat}. (The
damping, {rate_floor:.1e} per step for the linearized network, can only slow the last step.) All of this is much
faster than the linear rate {{eq}}`eq-ch2-ngd-rate` the theorem guarantees (which does not even apply:
$C'>\tfrac12$ in Experiment 2). The linearized network reaches {lin_first:.1e} (from {r0:.0f}) in one step.

For gradient descent, $\kappa$ of this Gram matrix is {kappa:.0f}. At $\eta=1.9N/\lambda_{{\max}}$ the residual
contracts by {stable_rate:.4f} per step late in training (the linearized prediction for the slowest direction,
$1-1.9\lambda_0/\lambda_{{\max}}$, is {stable_predicted:.4f}) and ends at {stable_final:.2g} of its initial value
after {gd_steps} steps. With the tuned rate {gd_catapult}; it ends at {gd_final:.2g}, Adam at {adam_final:.2g}.
Tuned learning rates (mean of {tuning_seeds} tuning seeds): {lrs} ({edges}). The comparison above is per step, and
steps do not cost the same: one NGD step (an $NK\times NK$ Gram matrix and solve) took {ngd_step_ms:.3g} ms and one
GD step {gd_step_ms:.3g} ms of wall-clock time here ({step_ratio:.0f}×). This race has $N$ small enough for an exact
solve per step, no noise, and an interpolating optimum — none of which holds in practice.
"""

#: Experiment 4: the practical race (mini-batch NGD, K-FAC, SGD, Adam).
PRACTICAL_RACE = r"""
**What the runs show.** On {train} MNIST training images (network {depth} × {width}, {parameters} parameters,
batch {batch}, {seeds} seeds; {diverged}), after {epochs} epochs the mean test accuracy is {acc_sgd:.3g} % (SGD),
{acc_adam:.3g} % (Adam), {acc_ngd:.3g} % (mini-batch NGD) and {acc_kfac:.3g} % (K-FAC). **Per epoch**, mini-batch
NGD's accuracy is {epoch_ngd_vs_sgd} and {epoch_ngd_vs_adam}; K-FAC's is {epoch_kfac_vs_sgd} and
{epoch_kfac_vs_adam}. One epoch costs {spe_sgd:.2g} s (SGD), {spe_adam:.2g} s (Adam), {spe_ngd:.2g} s (NGD) and
{spe_kfac:.2g} s (K-FAC, curvature every {kfac_every} steps) of CPU time: NGD {ratio_ngd:.0f}× and K-FAC
{ratio_kfac:.0f}× {reference}'s. **Per second**, {per_second_ngd}. For K-FAC, {per_second_kfac}. **Time to
{target:.3g} % test accuracy** (the lowest accuracy every run reaches): {target_words} (geometric means); NGD is
{target_ngd_vs_sgd} and {target_ngd_vs_adam}; K-FAC is {target_kfac_vs_sgd} and {target_kfac_vs_adam} (log10 of
the time ratio, paired over seeds). {target2_text}Picks at a grid edge or untuned: {edges}. Margins of the picks:
{ties}.

On the same setting, $C'$ measured on {probe} training images over the first {epochs} epochs is {cprime_words}
(geometric means over seeds; $\lambda_0$ of those images {probe_lambda0_range}) — at least {cprime_min:.0f}, that is
{cprime_factor:.0f} times $\tfrac12$. The largest distance travelled is {rho_words} of the probe's $\rho$,
{inside_ball}; {outside_words}. The training set's $\rho$ is at least the probe's (a larger residual, and by
interlacing a smaller $\lambda_0$), so the checkpoints kept are inside its ball too, and the constant is a lower bound
for the whole training set — of a constant in this network's standard parametrization, on cross-entropy
trajectories, which Experiment 2's NTK-parametrized constants need not equal.
"""

#: The findings.
FINDINGS = r"""
- **(C1)** holds numerically for the one-hidden-layer MLP from width {first_full} and for the CNN from
  {cnn_first_full} channels, but $\lambda_0$ is still below its infinite-width value at {gram_wmax}
  units ({m_over_nk:.1f} $NK$; ratio {ratios}), and the gap closes with exponent {gap_slope}.
- **Condition (C2).** {c2_verdict}. For ReLU, $\lVert J_\theta-J_0\rVert_2$ {relu_dj_verdict} over the widths
  measured (exponent {relu_dj_total}); its activation part's exponent is {relu_split_test}, and softplus's change
  {smooth_dj_verdict}. The width at which $C'<\tfrac12$ for only $N$ = {n} images is an extrapolation: {cross_half}
  under $m^{{-1/2}}$, {cross_quarter} under $m^{{-1/4}}$. $C'$ against $N$: exponents {n_narrow_slope} and
  {n_slope} at widths {n_width_narrow} and {n_width}. At width {depth_ratio_width}, deeper MLPs have $C'$
  {depth_ratio} that of one hidden layer, and {cnn_rank} (the CNN: total change only, at small channel counts, not
  matched to the MLPs in size or $\lambda_0$, and not in the lazy regime — *this* CNN is far from (C2), which says
  nothing about convolutions as such).
- **Full batch**, NGD converges {race_order_verdict} (local order
  {race_last_order_ngd_low:.1f}–{race_last_order_ngd_high:.1f} on the last resolvable step for ReLU, after a
  pre-asymptotic phase) to the float64 plateau — fast for a reason the
  theorem does not use.
- **In practice** (cross-entropy, {train} MNIST images, tuned, {seeds} seeds), per epoch mini-batch NGD's test
  accuracy is {epoch_ngd_vs_sgd} and {epoch_ngd_vs_adam}; per second it is {short_second_ngd_sgd} and
  {short_second_ngd}. K-FAC's per epoch is {epoch_kfac_vs_sgd} and {epoch_kfac_vs_adam}; per second
  {short_second_kfac_sgd} and {short_second_kfac} (this K-FAC has running averages and momentum, but a fixed tuned
  step, momentum and damping instead of Martens and Grosse's adaptive ones).
  The constant $C'$ of these networks, in their own standard parametrization, is
  at least {cprime_min:.0f}.

Our measurements point the same way as the conclusion of Wenger et al. {{cite}}`wenger2023disconnect`, with their
definitions of (C1), (C2) and $C'$ (the maximum over the NGD trajectory): in the theorem's (NTK) parametrization,
$C'>\tfrac12$ for ReLU networks at every width up to {wmax} for $N$ = {n} images, and $C'$ grows with $N$, so the
required width grows with the data set (like $N^{{{width_exp_low:.1f}}}$ to $N^{{{width_exp_high:.1f}}}$ with the
measured exponents, an extrapolation); in PyTorch's standard parametrization on MNIST subsets a (different) constant
is at least {cprime_min:.0f}. We have not compared set-ups or values with theirs: we could not read their NGD protocol
(data, widths, number of points, reported constants) in the sources available while writing; ours are stated in each
experiment. All numbers
come from the '{profile}' profile run stated in the captions.
"""

#: The exercises (numbers in the solutions are computed).
EXERCISES = r"""
**1. Derivation.** Show the push-through identity
$(J^\top HJ+\lambda I_P)^{{-1}}J^\top=J^\top(HJJ^\top+\lambda I_{{NK}})^{{-1}}$ for $\lambda>0$ and $H$ positive
semi-definite, and use it to prove that one undamped NGD step with $\eta=1$ fits a *linear* model
$u(\theta)=u_0+J_0(\theta-\theta_0)$ with squared loss exactly when $J_0$ has full row rank. Which of the
interpolating solutions does it pick?

```{{admonition}} Solution
:class: dropdown
$J^\top(HJJ^\top+\lambda I)=(J^\top HJ+\lambda I)J^\top$; multiply by $(J^\top HJ+\lambda I)^{{-1}}$ on the
left and $(HJJ^\top+\lambda I)^{{-1}}$ on the right (both exist: $HJJ^\top$ has the eigenvalues of the PSD
$H^{{1/2}}JJ^\top H^{{1/2}}$, since $AB$ and $BA$ share their spectrum, so adding $\lambda I$ with $\lambda>0$ makes
it invertible). For the linear model with $H=I$,
$u_1-y=(u_0-y)-G_0G_0^{{-1}}(u_0-y)=0$ when $G_0$ is invertible. The step lies in the row space of $J_0$, so it is
the minimum-norm $\theta_1-\theta_0$ among all interpolating steps — the solution gradient flow on the linear
model also converges to (Chapter 1).
```

**2. Fisher, GGN, empirical Fisher.** For softmax cross-entropy with logits $f$ and one input, show that the
Fisher $\mathbb E_{{\hat y\sim p}}[\nabla\log p(\hat y)\nabla\log p(\hat y)^\top]$ equals
$J^\top(\operatorname{{diag}}p-pp^\top)J$, the GGN. Then show that the empirical Fisher of one input is
$\nabla L\nabla L^\top$ and compute
$(\nabla L\nabla L^\top+\lambda I)^{{-1}}\nabla L$. What does this preconditioner know about curvature?

```{{admonition}} Solution
:class: dropdown
$\nabla_\theta\log p(\hat y)=J^\top(e_{{\hat y}}-p)$ and
$\mathbb E_{{\hat y\sim p}}[(e_{{\hat y}}-p)(e_{{\hat y}}-p)^\top]=\operatorname{{diag}}p-pp^\top$, the Hessian of the
loss in the logits: the Fisher is the GGN. The empirical Fisher
puts the observed label in place of $\hat y$: $J^\top(e_y-p)(e_y-p)^\top J=\nabla L\nabla L^\top$. By
Sherman–Morrison, $(\nabla L\nabla L^\top+\lambda I)^{{-1}}\nabla L=\nabla L/(\lambda+\lVert\nabla L\rVert^2)$: a
rescaled gradient, with no curvature information at all. Over $N$ inputs it is the uncentred covariance of the
per-sample gradients, which is tied to the curvature only at the true parameters of a well-specified model
{{cite}}`kunstner2019limitations`. (For squared loss it even vanishes at an interpolating solution, where the Fisher
$J^\top J$ does not; for cross-entropy there is no finite interpolating minimiser, and both shrink as $p\to e_y$.)
```

**3. Predict, then run: the split.** Before running, predict how the fraction of flipped units and the activation
part of $C'$ change if the ReLU network is trained with a fixed step $\eta=\tfrac12$ instead of the halving rule
(pass `max_halvings=0, learning_rate=0.5` to `train_natural_gradient` in a copy of `ch2.stability_run`, and set
`steps` to about 50 so that the trajectory interpolates). Then run it for two widths.

```{{admonition}} Solution
:class: dropdown
With $\eta=\tfrac12$ the residual halves per step (linear rate) instead of squaring, so the trajectory takes more
steps but ends near the same interpolating point: the distance travelled, and hence the pre-activation change
$\delta\sim m^{{-1/2}}$, is about the same, and so are the fraction of flips (about $\delta$) and both parts of
$C'$. The constant depends on *where* the trajectory goes, not on how fast; what changes is the contraction per
step (compare with {{numref}}`fig-ch2-race`).
```

**4. Discussion: the trajectory and the ball.** Our (C2) measurement only looks along the trajectory, which
reaches at most {rho_fraction:.2f} of the radius $\rho$ (Experiment 2). Is the trajectory's maximum an upper or a
lower estimate of the constant over the ball? Does it matter for the conclusion?

```{{admonition}} Solution
:class: dropdown
A lower estimate: the ball contains the trajectory, so its supremum of $\lVert J_\theta-J_0\rVert$ is at least
the trajectory's maximum, and it includes points up to $\rho$ away in every direction, about
{inv_fraction:.0f} times farther than the trajectory went. Since $C'$ already exceeds $\tfrac12$, a larger
constant only strengthens the conclusion that the theorem does not apply. The opposite conclusion — condition
satisfied — could not be drawn from trajectory measurements alone. (A Lipschitz estimate
$\lVert J_\theta-J_0\rVert\lesssim M\lVert\theta-\theta_0\rVert$ would suggest a factor
$\rho/\max_k\lVert\theta_k-\theta_0\rVert$, but for ReLU the Jacobian is not Lipschitz, so that factor is a heuristic,
not a bound.)
```

**5. Data-set size.** Using the exponent of $C'$ against $N$ ({n_slope}) and against width ({relu_total}),
estimate how the required width scales with $N$, and what it would be for the {train} images of Experiment 4.
What does that say about using the NGD theorem to explain Experiment 4?

```{{admonition}} Solution
:class: dropdown
If $C'\approx c\,N^{{a}}m^{{b}}$ with $a>0>b$, then $C'<\tfrac12$ needs $m\gtrsim(2cN^{{a}})^{{-1/b}}$, i.e. the
width grows like $N^{{-a/b}}$. Measured: $a$ = {a_low:.2f} to {a_high:.2f} (the two widths of Experiment 2) and
$b$ = {b:.2f}, so $-a/b$ = {width_exp_low:.1f} to {width_exp_high:.1f}; with the flips' asymptotic $b=-\tfrac14$ it
would be {width_exp_quarter_low:.1f} to {width_exp_quarter_high:.1f}. Starting from the {cross_half}–{cross_quarter}
needed at $N$ = {n}, $N$ = {train} multiplies it by about {n_factor_low:.2g} to {n_factor_high:.2g} — but $a$ was
fitted over $N$ = {n_values} (a factor 4) and this extrapolates it over 2.5 decades, across a change of
parametrization and loss, so take it as a direction, not a number. Experiment 4's networks have a (standard-
parametrization) constant of at least {cprime_min:.0f} even on a small subset: the theorem's conditions, checked in
that parametrization, fail by a wide margin. Since $C'$ is not invariant under reparametrization (while exact NGD
is, to first order), this does not prove that no parametrization of those networks could satisfy them.
```
"""

#: Every template by name.
TEMPLATES = {
    "CONDITION_ONE": CONDITION_ONE,
    "CONDITION_TWO": CONDITION_TWO,
    "AGAINST_N": AGAINST_N,
    "TEACHING_RACE": TEACHING_RACE,
    "PRACTICAL_RACE": PRACTICAL_RACE,
    "FINDINGS": FINDINGS,
    "EXERCISES": EXERCISES,
}
