"""Pictures of a learned Q-table: FrozenLake's greedy policy over its map, Pendulum's value over its phase plane."""
import matplotlib

matplotlib.use("Agg")  # files only; no window needed
import matplotlib.pyplot as plt
import numpy as np

from wrappers import DiscretizeObservation

ARROWS = {0: (-1, 0), 1: (0, 1), 2: (1, 0), 3: (0, -1)}  # FrozenLake actions LEFT, DOWN, RIGHT, UP as (dx, dy)


def plot_frozenlake_policy(q_table, desc, path, title="Greedy policy"):
    """Heatmap of V(s) = max_a Q(s, a) over the map, an arrow for the greedy action on each frozen tile.

    `desc` is the map as an array of bytes (`env.unwrapped.desc`), shape (rows, cols).
    """
    rows, cols = desc.shape
    values = q_table.max(axis=1).reshape(rows, cols)
    fig, ax = plt.subplots(figsize=(1.2 * cols + 1.5, 1.2 * rows))
    image = ax.imshow(values, cmap="viridis")
    fig.colorbar(image, ax=ax, label="V(s) = max_a Q(s, a)")
    for r in range(rows):
        for c in range(cols):
            tile = desc[r, c].decode()
            if tile in "HG":  # terminal tiles: no action to show
                ax.text(c, r, tile, ha="center", va="center", color="white", fontsize=16, weight="bold")
                continue
            dx, dy = ARROWS[int(np.argmax(q_table[r * cols + c]))]
            ax.arrow(c - 0.25 * dx, r - 0.25 * dy, 0.3 * dx, 0.3 * dy, head_width=0.15, color="white")
            if tile == "S":
                ax.text(c - 0.35, r - 0.3, "S", color="white", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_pendulum_value(q_table, discretizer, path, title="Greedy value"):
    """max_a Q over (angle, angular velocity), read through the same binning the agent saw.

    `discretizer` is the env's `DiscretizeObservation` wrapper; angle 0 is upright.
    """
    angles = np.linspace(-np.pi, np.pi, 181)
    speeds = np.linspace(-8, 8, 161)
    values = np.array([[q_table[discretizer.observation(np.array([np.cos(a), np.sin(a), v]))].max()
                        for a in angles] for v in speeds])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    image = ax.imshow(values, origin="lower", aspect="auto", cmap="viridis",
                      extent=[angles[0], angles[-1], speeds[0], speeds[-1]])
    fig.colorbar(image, ax=ax, label="max_a Q(s, a)")
    ax.set_xlabel("angle (rad, 0 = upright)")
    ax.set_ylabel("angular velocity (rad/s)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_table(q_table, env, path):
    """The picture that fits `env`; returns False when there is none (an env other than these two)."""
    name = env.spec.name if env.spec else ""
    if name == "FrozenLake":
        plot_frozenlake_policy(q_table, env.unwrapped.desc, path)
    elif name == "Pendulum":
        discretizer = env
        while not isinstance(discretizer, DiscretizeObservation):
            discretizer = discretizer.env
        plot_pendulum_value(q_table, discretizer, path)
    else:
        return False
    return True
