"""The text of Chapter 4's findings: :func:`lib.notebook.say` templates, filled in the notebook from the numbers
of :mod:`lib.experiments.forgetting.chapter` (its ``*_summary`` functions; every field is a computed value).

Kept here, not in the notebook, so that the notebook's code stays short; the cells that show them hide their
input on the site. :data:`TEMPLATES` lists them all (the tests fill each one from a run's summaries).
"""

from __future__ import annotations

__all__ = ["SETUP", "CONFOUND", "MATCHED", "FRONTIER", "KERNEL", "OWN_KERNEL", "LINEARIZED", "MOVEMENT", "LAZINESS",
           "STEPS", "FINDINGS", "TEMPLATES"]

#: The set-up: benchmark, network, arms, tuning, statistics.
SETUP = r"""
**Set-up.** RotatedMNIST with the angles {angles} degrees (one task each, in this order): {n_train} training
and {n_test} test images per task, drawn afresh for every seed, so each of the {seeds_n} evaluation seeds also
has its own data draw. The network is a ReLU MLP with {depth} hidden layers of width $m$ = {widths}, trained
with plain SGD (batch {batch}, no momentum) on the cross-entropy for {epochs} epochs per task (the one-rate
arm with the fewest only, the μP arm with {mup_epochs}). Four **arms**: *standard, one learning rate*
({fixed_lr} at every width, the common protocol); *standard, matched* — a learning rate per width, chosen so
that one epoch per task gives a learning accuracy of {target:.0f} % on {tuning} tuning seeds with their own
data draws (a grid, then a quarter octave either side of the first pick, interpolating $\log\eta$; the tuning
runs are scored on a validation pool of the last 10 000 MNIST *training* images and train on the other 50 000,
so the MNIST test split is seen only by the evaluation); *NTK parametrization*, one learning rate for every
width, tuned to the same target on average; and *μP*, the base rate (the rate at width {mup_base}; width $m$
uses it × $m$/{mup_base}) tuned per width to the same target, because at finite width one base rate does not
give equal learning. The evaluation seeds also run one epoch per task at the picked rates × $2^{{\pm 1/2}}$,
so that forgetting can be read off at fixed learning accuracies. The kernel baseline uses the analytic NTK of
the same depth (NTK parametrization, $\sigma_w^2=2$, no bias) with one-hot targets minus $1/10$ and $f_0=0$
(the infinite-width network's random initial function is not modelled). Slopes over width are least-squares
slopes against $\log_{{10}} m$ over **all** widths, fitted per seed, with a 95 % Student t-interval over the
seeds (df = seeds − 1); differences are paired t-intervals over the same seeds and draws; correlations are
averaged over draws on Fisher's $z$ scale.
"""

#: Experiment 1: the kernel's scale and the one-rate protocol.
CONFOUND = r"""
The infinite-width formula with the standard parametrization's width factors gives a mean NTK diagonal
of {theta_min:.0f} at width {w_min} and {theta_max:.0f} at width {w_max} ({theta_ratio:.1f}×; the
input layer's term does not grow, the hidden layers' terms do). In the NTK parametrization the limit is
{theta_ntk:.2f}, the same at every width by construction. At one learning rate ({fixed_lr}) and one epoch
per task, learning accuracy {fixed_la_slope} with width (from {fixed_la_min:.1f} % to
{fixed_la_max:.1f} %), and forgetting {fixed_f_slope} ({fixed_f_min:.1f} % → {fixed_f_max:.1f} %).
**Under the one-rate protocol, then, we do not see wide networks forget less** — but the wide networks
also learned more, which by itself raises forgetting (Experiment 3), so this null result is biased
against a width benefit.
"""

#: Experiment 2: forgetting at matched learning, over epochs per task.
MATCHED = r"""
**What the runs show.** With {e_min_words} per task and a learning rate matched per width, the
learning accuracy on the evaluation seeds is {m_emin_la_lo:.1f}–{m_emin_la_hi:.1f} % across widths
(target {target:.0f} %; its slope over width {m_emin_la_slope}); max-based forgetting $F_T$
{m_emin_f_slope} with width ({m_emin_f_min:.1f} % at the narrowest, {m_emin_f_max:.1f} % at the widest),
and $a_{{jj}}-a_{{Tj}}$ {m_emin_g_slope}. Average accuracy after the last task {m_emin_a_slope}
({m_emin_a_min:.1f} % → {m_emin_a_max:.1f} %). In the NTK parametrization (one rate) learning accuracy
{n_emin_la_slope} and $F_T$ {n_emin_f_slope} ({n_emin_f_min:.1f} % → {n_emin_f_max:.1f} %). With
{e_max} epochs per task: matched arm, learning accuracy {m_emax_la_lo:.1f}–{m_emax_la_hi:.1f} %, $F_T$
{m_emax_f_slope}; NTK arm, $F_T$ {n_emax_f_slope}. In relative terms — the slope of $\ln F_T$ per decade
of width — the matched arm's {m_emin_rel_slope} at {e_min_words} and {m_emax_rel_slope} at {e_max}
epochs. Averaged over widths, $F_T$ is {budget_gap} with {e_max} epochs per task than with {e_min_words},
and average accuracy is {accuracy_gap}. The two forgetting measures differ by
{fg_gap:.1f} points on average (matched arm): $F_T\ge G_T$ always, and they differ where an earlier
task was at its best before or after its own training (forward or backward transfer between
neighbouring rotations). The picked rates give $\eta\,\Theta(x,x)$ = {eta_theta_narrow:.1f} at width
{w_min} and {eta_theta_wide:.1f} at width {w_max} (NTK parametrization: {eta_theta_ntk:.1f}): matching
learning nearly undoes the growth of the kernel's scale. Learning accuracy also counts what earlier rotations
already taught; the accuracy on the first task right after training it, $a_{{11}}$, has no such transfer: it
is {m_a11_min:.1f} % at width {w_min} and {m_a11_max:.1f} % at width {w_max} (slope {m_a11_slope}; NTK
parametrization {n_a11_slope}): {m_a11_words}. {diverged}.
"""

#: Experiment 3: forgetting at fixed learning accuracy.
FRONTIER = r"""
At fixed learning accuracy, with one epoch per task, $F_T$ over width (levels {frontier_levels} %, centred on
the matched networks' evaluation learning accuracy) — standard parametrization: {frontier_m}. NTK
parametrization: {frontier_n}. μP: {frontier_u}. Along the seed × width curves traced by the three learning
rates, $F_T$ rises with learning accuracy in {curves_up} of {curves_n} — the more a task is fitted, the more
the next fit overwrites, as {eq}`eq-ch4-interference` says. {k_above} of the {k_points} network points of the
figure (arm × width × epochs, means over seeds) lie above the kernel model's curve at their learning accuracy.
At the target learning accuracy the kernel model forgets {k_matched:.1f} % ($F_T$; $G_T$ {k_matched_g:.1f} %),
and interpolating every task ($\tau=\infty$) it reaches {k_inf_la:.1f} % learning accuracy and forgets
{k_inf:.1f} %.
"""

#: Experiment 4: the kernel model, per-pair forgetting and the overlap.
KERNEL = r"""
**The kernel model.** Interpolated at each draw's own network learning accuracy, the widest network
forgets {vs_kernel_m} (standard, matched; paired over the same data draws) and {vs_kernel_n} (NTK
parametrization), one epoch per task. This gap is not width alone: the kernel model also differs in its
loss (squared, not cross-entropy), its optimizer (gradient flow, not SGD) and its initial function
($f_0=0$); and it is the infinite-width limit of the *NTK* parametrization, whose kernel weights the layers
differently from the standard parametrization's limit, so the NTK arm is the like-for-like comparison and the
matched arm's gap also contains the parametrization. What it shows is that a perfectly lazy learner on the
same tasks still forgets. **Which pairs suffer**: the correlation over task pairs between the kernel model's
and the network's per-pair forgetting is {agree_m} (widest matched network) and {agree_n} (widest
NTK-parametrized one). The overlap itself is a weaker guide: neighbouring rotations overlap most
({overlap_near:.2f} between neighbours, {overlap_far:.2f} between the first and the last), and the rank
correlation between overlap and per-pair forgetting is {rho_kernel} for the kernel model, {rho_m} and
{rho_n} for the networks — but overlap and the angle between the tasks are nearly the same variable here
(rank correlation {overlap_gap_rho:.2f} over the ten pairs), so these numbers cannot separate the two.
Doan et al. {cite}`doan2021theoretical` bound how far the outputs move, not the accuracy; with shared
labels, the move on a strongly overlapping pair can largely agree with the old task, which would make
this correlation negative rather than positive.
"""

#: Experiment 4: the empirical overlap and output drift.
OWN_KERNEL = r"""
**The network's own kernel.** The analytic overlap is the same at every width. Measured on each network's
empirical NTK (the probe of {probe_per_task} test images per task; the analytic NTK gives {ov_analytic:.2f} on
the same probe — with few inputs per task the block estimate sits far below the {overlap_near:.2f} between
neighbours on {overlap_points} inputs), the mean centred cross-task overlap **at initialization** is
{ov_init_m_min:.2f} at width {w_min} and {ov_init_m_max:.2f} at width {w_max} for the standard
parametrization (slope {ov_init_m_slope}) and {ov_init_n_min:.2f} → {ov_init_n_max:.2f} for the NTK and μP
networks, which are the same network at initialization (slope {ov_init_n_slope}) — a property of the initial
kernel at finite width, not of training. **At the start of each later task** — the kernel through which that task's
training first reaches the earlier ones — it is {ov_during_m_min:.2f} → {ov_during_m_max:.2f} (matched),
{ov_during_n_min:.2f} → {ov_during_n_max:.2f} (NTK) and {ov_during_u_min:.2f} → {ov_during_u_max:.2f} (μP).
What training adds — the overlap during training minus at initialization — {ov_delta_m_slope} with width
(matched), {ov_delta_n_slope} (NTK) and {ov_delta_u_slope} (μP). **Output drift, like with like**: Doan et
al.'s bound is on how far the outputs move. The squared output change that training a task causes on the
earlier tasks' test images, relative to the change on the task itself, is {share_m_min:.2f} at width {w_min}
and {share_m_max:.2f} at width {w_max} (matched; slope {share_m_slope}), NTK parametrization
{share_n_slope}, μP {share_u_slope}; for the kernel model it is {share_kernel:.2f}. Per pair, the rank
correlation between the analytic overlap and the relative drift $d_{{ij}}/d_{{jj}}$ is {drift_rho_kernel} for
the kernel model and {drift_rho_m}, {drift_rho_n} and {drift_rho_u} for the widest matched, NTK and μP
networks — with the caveat above: overlap and the angle between the rotations order the pairs alike. Where
$F_T$ falls with width while the overlap or the relative drift does not fall (compare the μP arm, Experiment
5), a "more orthogonal representations" account {cite}`ramasesh2022effect` does not explain the width effect.
"""

#: Experiment 4: the linearized networks.
LINEARIZED = r"""
With one epoch per task at the matched networks' rates, the linearized networks learn less: learning accuracy
{lin_la_min:.1f} % at width {w_min} and {lin_la_max:.1f} % at width {w_max} (slope {lin_la_slope}), against
{net_la_min:.1f} % and {net_la_max:.1f} % for the trained networks. Near these learning accuracies forgetting
changes by more than a point per point of learning accuracy, so the two are not compared directly. Each is
set against the kernel model's curve at its own learning accuracy, draw by draw: the linearized networks lie
{lin_off_narrow} at width {w_min} and {lin_off_wide} at width {w_max}; the trained networks {net_off_narrow}
and {net_off_wide}. Where the linearized network sits on the curve, loss, optimizer and random initial
function hardly matter, and what the trained network forgets beyond the curve comes from leaving the lazy
regime (its linearization learns with the same loss, optimizer, rate, batches and $f_0$).
"""

#: Experiment 5: kernel movement, and against forgetting.
MOVEMENT = r"""
With a matched learning rate, task 1 changes the kernel's shape by {m_shape1_min:.3f} at the narrowest and
{m_shape1_max:.3f} at the widest width; later tasks by {m_shape_later_min:.3f} and {m_shape_later_max:.3f}
(the mean shape change scales as $m^{{c}}$ with exponent $c$ = {m_shape_slope}). NTK parametrization: task 1
{n_shape1_min:.3f} → {n_shape1_max:.3f}, later tasks {n_shape_later_min:.3f} → {n_shape_later_max:.3f}
(exponent {n_shape_slope}). Lazy-training theory bounds the kernel's change by $O(m^{{-1/2}})$
{cite}`jacot2018ntk,lee2019wide`; perturbative analyses give a faster $1/m$ for the change training induces
{cite}`dyer2020asymptotics`, so an exponent near −1/2 is consistent with the lazy picture without testing its
mechanism. μP: the mean shape change is {u_shape_min:.3f} at width {w_min} and {u_shape_max:.3f} at width
{w_max} (exponent {u_shape_slope}; μP minus matched {u_exp_vs_m}, μP minus NTK {u_exp_vs_n}, paired over
seeds). Run by run across widths, $F_T$ against $\log_{{10}}$ of the mean shape change (slope per seed, t over
seeds) {move_f_m} (matched), {move_f_n} (NTK) and {move_f_u} (μP). Within one arm, width moves both, so this
is a correlation; the μP arm below is the intervention.
"""

#: Experiment 5: the μP arm.
LAZINESS = r"""
**Is laziness the mechanism?** In μP, with the base rate matched per width, learning accuracy is
{u_la_lo:.1f}–{u_la_hi:.1f} % across widths (slope {u_la_slope}) and $F_T$ {u_f_slope}
({u_f_min:.1f} % → {u_f_max:.1f} %; relative slope {u_rel_slope}); its slope minus the NTK
parametrization's, paired over the same seeds and draws, is {mup_vs_ntk}. {u_kept_words} Read off at fixed
learning accuracy, μP: {frontier_u}. **The same network at equal width.** μP and the NTK parametrization share
the network, seeds and data draws; at equal width and nearly equal learning they differ in how far the kernel
moves. μP minus NTK, paired over seeds — {u_contrast}; at fixed learning accuracy, {u_contrast_level}. Across
the three tuned arms at fixed width (width fixed effects, learning accuracy as a covariate, per seed), $F_T$
{move_fixed_width}. Verdict: **{u_verdict}**. Two limits: matching μP's learning per width changed its base
rate with width (picks table), which can bring laziness back — compare μP's kernel-movement exponent with the
matched arm's above; μP at one base rate for every width is the cleaner run, below; and the widths stop at
{w_max}. Graldi et al. {cite}`graldi2025importance`
vary the degree of feature learning directly and report that width reduces forgetting only insofar as it
makes training lazier.
"""

#: Experiment 5b: μP at one base rate for every width.
MUP_ONE_RATE = r"""
**μP at one base rate for every width.** μP's own promise is that one base rate transfers across widths and
that width does not make the network lazier {{cite}}`yang2021tensor`. So we also run the μP network at a single
base rate for every width — the NTK arm's tuned rate ({u1_rate:.3g}); at the base width {u1_base} the two are the
same network with the same weights and rate, and above it they differ only in the readout's and the step's
scaling — one epoch per task, the same evaluation seeds and data draws. Learning accuracy
{u1_la_min:.1f} % → {u1_la_max:.1f} % (slope {u1_la_slope}; μP minus NTK, paired: {u1_la_vs_n}); $F_T$
{u1_f_min:.1f} % → {u1_f_max:.1f} % (slope {u1_f_slope}; μP minus NTK, paired: {u1_f_vs_n}); the centred
kernel movement per task scales as $m^{{c}}$ with $c$ = {u1_move} (NTK network: {u1_move_n}; μP minus
NTK, paired: {u1_move_vs_n}). Verdict:
**{u1_verdict}**. The comparison is at one rate per arm, not at matched learning accuracy (the learning
accuracies above say how far apart they are), and the widths stop at {w_max}.
"""

#: Experiment 6: steps to the training target.
STEPS = r"""
Trained for {e_max} epochs per task, the matched networks reach {train_target:.0f} % training accuracy on
{m_emax_reached_min:.1f} of {tasks} tasks on average at the narrowest width and on
{m_emax_reached_max:.1f} at the widest (NTK parametrization: {n_emax_reached_min:.1f} and
{n_emax_reached_max:.1f}); the mean final training accuracy over tasks is {m_emax_fit_min:.1f} % and
{m_emax_fit_max:.1f} % (NTK: {n_emax_fit_min:.1f} % and {n_emax_fit_max:.1f} %). A fixed number of epochs is
not the same amount of training at every width — the learning rates differ — which is why the comparison is
made at matched learning accuracy rather than at a nominal "trained to convergence". Here {m_emax_fit_words}
(matched arm; final training accuracy, widest minus narrowest, paired over seeds: {m_emax_fit_gap}); where the
wider networks are the less fitted ones, a width effect that survives more epochs is confounded in the
direction of Wenger et al.'s under-training account.
"""

#: The findings.
FINDINGS = r"""
- **One learning rate for every width** (the common protocol): learning accuracy {fixed_la_slope} with
  width and $F_T$ {fixed_f_slope} — no width benefit, but a comparison biased against one.
- **Verdict on "wide networks forget less"** {cite}`mirzadeh2022wide`: **{verdict}**. With {e_min_words} per
  task, $F_T$ {m_emin_f_slope} (matched learning rates) and {n_emin_f_slope} (NTK parametrization); read
  off at fixed learning accuracies, {frontier_m_assessed} (standard) and {frontier_n_assessed} (NTK). These
  are RotatedMNIST MLPs with up to {w_max} units; Mirzadeh et al. also study convolutional networks on image
  benchmarks, which this chapter runs only with their data and a GPU (below).
- **Under-training** (Wenger et al. {cite}`wenger2023disconnect`, hedged): the width slope of $F_T$ (matched
  arm) with {e_max} epochs per task minus that with {e_min_words}, paired over seeds, is {slope_gap};
  the relative slope goes from {m_emin_rel_slope} to {m_emax_rel_slope}. {under_words}; but {e_max} epochs
  is not convergence ({m_emax_fit_words}: mean final training accuracy {m_emax_fit_min:.1f} % at width
  {w_min}, {m_emax_fit_max:.1f} % at width {w_max}, matched arm; NTK parametrization {n_emax_fit_min:.1f} % and
  {n_emax_fit_max:.1f} %), and the learning rates were tuned for one epoch. Where the wider networks end less
  fitted, what remains of the width effect at {e_max} epochs is confounded in the direction of the
  under-training account; the converged regime is not tested.
- **Lazy learners.** {k_above} of {k_points} network points lie above the kernel model's curve in
  {numref}`fig-ch4-stability-plasticity`; the widest NTK-parametrized network forgets {vs_kernel_n} at its
  own learning accuracy (the kernel model differs in loss, optimizer and $f_0$ as well as in laziness). The
  linearized networks lie {lin_off_wide} at width {w_max}, the trained matched networks {net_off_wide}.
- **Is laziness the mechanism?** (μP, Experiment 5): {u_verdict}. μP's $F_T$ {u_f_slope_kept} with width at
  matched learning, over the widths whose μP pick bracketed the target; its slope minus the NTK
  parametrization's over the same widths: {mup_vs_ntk_kept}; at width {w_max}, μP minus NTK:
  {u_contrast_wide}. This μP arm's kernel movement scales as $m^{{c}}$ with $c$ = {u_shape_slope} (μP minus
  matched: {u_exp_vs_m}); matching its learning per width changed its base rate, which can bring laziness
  back. **At one base rate for every width** (Experiment 5b): **{u1_verdict}** — μP's $F_T$ {u1_f_slope},
  learning accuracy {u1_la_slope}, kernel-movement exponent {u1_move} (NTK network: {u1_move_n}); μP minus
  NTK, $F_T$ slopes paired over seeds: {u1_f_vs_n}.
- **Cross-task overlap of the network's own kernel** (Experiment 4): what training adds to the initial overlap
  {ov_delta_m_slope} with width (matched), {ov_delta_n_slope} (NTK) and {ov_delta_u_slope} (μP); the
  relative drift on earlier tasks {share_m_slope} (matched) and {share_u_slope} (μP). Where forgetting falls
  with width while these do not fall, they do not explain the width effect.
- **Two definitions.** Max-based $F_T$ and $a_{{jj}}-a_{{Tj}}$ differ by {fg_gap:.1f} points on
  RotatedMNIST; both are plotted in {numref}`fig-ch4-matched`.

All numbers are computed in this run ({profile} profile); departures from the papers are stated in the
theory and set-up above: MLPs on RotatedMNIST with widths up to {w_max} (no convolutional network unless
the image benchmarks ran), learning matched at one epoch per task, the kernel model on squared loss with
gradient flow, networks on cross-entropy with SGD. Only partly controlled: learning accuracy mixes fitting
with forward transfer between rotations (the first task's own accuracy $a_{{11}}$, which has no transfer,
{m_a11_slope} with width in the matched arm). The target learning accuracy ({target:.0f} %, on the tuning
runs' validation pool) sits near the top of what one epoch reaches; on the test split the matched networks
reach {m_emin_la_lo:.1f}–{m_emin_la_hi:.1f} %. Not run here: widths above {w_max} (the paper profile goes to
4096, so how close the networks come to the kernel model's curve in the limit is not judged), μP at one base
rate read off at fixed learning accuracy, a budget trained to convergence with learning rates re-tuned for it,
and the image benchmarks without their data and a GPU.
"""

#: Every template by name.
TEMPLATES = {"SETUP": SETUP, "CONFOUND": CONFOUND, "MATCHED": MATCHED, "FRONTIER": FRONTIER, "KERNEL": KERNEL,
             "OWN_KERNEL": OWN_KERNEL, "LINEARIZED": LINEARIZED, "MOVEMENT": MOVEMENT, "LAZINESS": LAZINESS,
             "MUP_ONE_RATE": MUP_ONE_RATE, "STEPS": STEPS, "FINDINGS": FINDINGS}
