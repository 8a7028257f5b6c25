"""Jacobians, empirical and infinite-width NTKs, linearization and natural gradient.

Conventions (shared by every function here):

* a model maps ``[N, ...]`` to ``[N, K]``; θ is the list of parameters with
  ``requires_grad`` in ``model.named_parameters()`` order, flattened to ``[P]``;
* ``jacobian`` → ``[N, K, P]``;
* ``empirical_ntk(mode="full")`` → ``[N1, N2, K, K]``; ``"diagonal"`` → ``[N1, N2, K]``;
  ``"trace"`` → ``[N1, N2]`` (a sum over outputs);
* losses are sums over samples.
"""

from lib.ntk.checks import check_model
from lib.ntk.compare import kernel_distance, relative_frobenius_error
from lib.ntk.contract import MODES, Mode
from lib.ntk.empirical import METHODS, Method, empirical_ntk, ntk_vp
from lib.ntk.infinite import relu_ntk
from lib.ntk.jacobian import jacobian
from lib.ntk.linearize import LinearizedModel, linearize
from lib.ntk.natural_gradient import GaussNewtonStep, apply_step, gauss_newton_step, output_loss_derivatives
from lib.ntk.predict import MSEDynamics, NTKGaussianProcess, gradient_descent_mse, kernel_matrix, ntk_gp_posterior
from lib.ntk.spectral import SpectralNormEstimate, gram_eigenvalues, jacobian_difference_norm
from lib.ntk.structured import StructuredNotSupported

__all__ = [
    "MODES", "METHODS", "Mode", "Method", "jacobian", "empirical_ntk", "ntk_vp", "relu_ntk", "linearize",
    "LinearizedModel",
    "gradient_descent_mse", "MSEDynamics", "kernel_matrix", "gauss_newton_step", "apply_step",
    "GaussNewtonStep", "output_loss_derivatives", "check_model", "StructuredNotSupported",
    "ntk_gp_posterior", "NTKGaussianProcess", "kernel_distance", "relative_frobenius_error",
    "gram_eigenvalues", "jacobian_difference_norm", "SpectralNormEstimate",
]
