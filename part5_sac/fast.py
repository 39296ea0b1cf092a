"""FAST PATH. The same SAC update as agent.py, with less work around the matrix products; a first reading can skip this file.

`FastAgent` is what train.py runs by default (`--no-fast` runs the textbook `Agent`). It changes how the
work is done, never what is computed: tests/test_fast.py starts both from the same seed and memory and
checks that they reach the same weights. On Pendulum with SB3's 256-256 networks (batch 256, one gradient
step per env step) the update is nearly all of the time, and most of the update is the 256x256 matrix products,
which no reorganisation removes (NOTES.md has the profile). What this file trims is the rest:

1. Gradients by `torch.autograd.grad`: nothing is stored in `.grad`, so nothing is zeroed, and the actor's
   gradient needs no freezing of the critics (autograd computes only the gradients it is asked for).
2. Actor and temperature in one step. The actor's loss does not depend on log(alpha) (alpha is a constant
   in it) and the temperature's loss does not depend on the actor's weights (log pi is detached), so one
   `autograd.grad` of their sum gives both gradients, and one Adam step (same learning rate; Adam works
   element by element) updates both.
3. Adam through its fused kernel, given the gradients: the kernel `torch.optim.Adam(fused=True)` runs,
   without that class's per-step state gathering and hooks.
4. The critics' last layer (256 -> 1 per critic) as a multiply-and-sum: as a batched matrix product it is
   a batched matrix-vector product, which torch runs several times slower than the same arithmetic
   done elementwise.
"""
import torch
import torch.nn.functional as F

from agent import Agent, soft_td_target


class FusedAdam:
    """Adam through torch's fused kernel (the one `torch.optim.Adam(fused=True)` runs), given the gradients
    directly. tests/test_fast.py checks it against torch.optim.Adam step for step."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.exp_avgs = [torch.zeros_like(p) for p in self.params]     # first moment, m
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]  # second moment, v
        # The step count t of the bias correction 1 - beta^t: the kernel takes one tensor per parameter;
        # all parameters step together, so they share one (the kernel only reads it).
        self.step_count = torch.zeros((), device=self.params[0].device)
        self.steps = [self.step_count] * len(self.params)

    @torch.no_grad()
    def step(self, grads):
        """p <- p - lr * m_hat / (sqrt(v_hat) + eps) for every parameter p, in place."""
        self.step_count += 1
        torch._fused_adam_(self.params, list(grads), self.exp_avgs, self.exp_avg_sqs, [], self.steps,
                           lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], weight_decay=0.0, eps=self.eps,
                           amsgrad=False, maximize=False)

    def state_dict(self):
        """The moments and the step count (train.py --resume saves them with the training state)."""
        return dict(exp_avgs=self.exp_avgs, exp_avg_sqs=self.exp_avg_sqs, step_count=self.step_count)

    @torch.no_grad()
    def load_state_dict(self, state):
        for mine, saved in zip(self.exp_avgs + self.exp_avg_sqs, state["exp_avgs"] + state["exp_avg_sqs"]):
            mine.copy_(saved)
        self.step_count.copy_(state["step_count"])  # in place: self.steps lists this very tensor


def twin_q(critic, obs, action):
    """TwinQNetwork.forward(obs, action), (n_critics, batch), with the last layer as a multiply-and-sum."""
    x = torch.cat([obs, action], dim=-1).expand(critic.n_critics, obs.shape[0], -1)
    for weight, bias in zip(critic.weights[:-1], critic.biases[:-1]):
        x = F.relu(torch.baddbmm(bias, x, weight))
    # weight (2, hidden, 1) -> (2, 1, hidden): each critic's row of weights against each of its rows of x
    return (x * critic.weights[-1].transpose(1, 2)).sum(-1) + critic.biases[-1].squeeze(-1)


class FastAgent(Agent):
    """`Agent` with the tricks above; acting, collection, evaluation and the loop are Agent's own."""

    def __init__(self, config, obs_dim, action_dim, device="cpu"):
        super().__init__(config, obs_dim, action_dim, device)
        self.actor_params, self.critic_params = list(self.actor.parameters()), list(self.critic.parameters())
        self.critic_adam = FusedAdam(self.critic_params, lr=config.learning_rate)
        self.actor_adam = FusedAdam(self.actor_params + ([self.log_alpha] if config.autotune else []),
                                    lr=config.learning_rate)

    def set_learning_rate(self, lr):
        self.actor_adam.lr = self.critic_adam.lr = lr

    def optimizer_states(self):
        return dict(actor=self.actor_adam.state_dict(), critic=self.critic_adam.state_dict())

    def load_optimizer_states(self, states):
        self.actor_adam.load_state_dict(states["actor"])
        self.critic_adam.load_state_dict(states["critic"])

    def update(self, obs, actions, rewards, next_obs, terminated):
        """Agent.update: the same critic, actor and temperature steps and Polyak update, in fewer calls."""
        c = self.config
        alpha = self.alpha
        with torch.no_grad():
            next_actions, next_log_prob = self.actor.sample(next_obs)
            next_q = twin_q(self.critic_target, next_obs, next_actions)
            target = soft_td_target(rewards, next_q, next_log_prob, terminated, c.gamma, alpha)
        q = twin_q(self.critic, obs, actions)
        critic_losses = ((q - target) ** 2).mean(dim=1)
        self.critic_adam.step(torch.autograd.grad(critic_losses.sum(), self.critic_params))

        new_actions, log_prob = self.actor.sample(obs)
        q_new = twin_q(self.critic, obs, new_actions).min(dim=0).values
        actor_loss = (alpha * log_prob - q_new).mean()
        if c.autotune:
            alpha_loss = -(self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
            grads = torch.autograd.grad(actor_loss + alpha_loss, self.actor_params + [self.log_alpha])
            self.stats["alpha_loss"] = alpha_loss.detach()
        else:
            grads = torch.autograd.grad(actor_loss, self.actor_params)
        self.actor_adam.step(grads)

        self.update_target()
        self.gradient_steps += 1
        self.stats.update(critic1_loss=critic_losses[0].detach(), critic2_loss=critic_losses[1].detach(),
                          actor_loss=actor_loss.detach(), entropy=-log_prob.detach().mean(),
                          mean_q=q.detach().mean(), alpha=alpha)
