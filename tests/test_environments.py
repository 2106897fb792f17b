"""Atomic-environment clusters: structure analysis with LAMMPS, clustering in the bispectrum space, labels."""

import numpy as np
import pytest
from ase.build import bulk, fcc100, fcc111

from multiscale.divergence.atlas import EnvironmentSettings
from multiscale.divergence.environments import cluster, nn_strain, structure_label
from multiscale.lammps import structure
from multiscale.mlip.snap import DescriptorSettings, descriptors

A0 = 4.04
CUT = 0.5 * (A0 / np.sqrt(2) + A0)  # between the first and second fcc shells
CNA_CUT = 0.854 * A0


def test_structure_counts_neighbours_and_names_the_lattice():
    crystal = bulk("Al", "fcc", a=A0, cubic=True).repeat(3)
    crystal.append("Al")  # a probe at the site about to be emptied, for the distances
    crystal.positions[-1] = crystal.positions[0]
    del crystal[0]  # a vacancy
    first = np.isclose(crystal.get_distances(-1, range(len(crystal)), mic=True), A0 / np.sqrt(2), atol=0.01)[:-1]
    del crystal[-1]
    coord, cna = structure(crystal, CUT, CNA_CUT)
    # the vacancy's 12 nearest neighbours miss one neighbour and are no longer fcc by CNA; the rest are
    assert first.sum() == 12
    assert np.all(coord[first] == 11) and np.all(coord[~first] == 12)
    assert np.all(cna[~first] == 1) and np.all(cna[first] != 1)
    for slab, surface in ((fcc111("Al", (2, 2, 5), a=A0, vacuum=6.0), 9), (fcc100("Al", (2, 2, 5), a=A0, vacuum=6.0),
                                                                            8)):
        coord, cna = structure(slab, CUT, CNA_CUT)
        z = slab.positions[:, 2]
        outer = np.isclose(z, z.min()) | np.isclose(z, z.max())
        assert np.all(coord[outer] == surface) and np.all(coord[~outer] == 12)


def test_nearest_neighbour_strain_of_a_uniformly_stretched_crystal():
    crystal = bulk("Al", "fcc", a=A0 * 1.01, cubic=True)
    assert nn_strain(crystal, CUT, A0 / np.sqrt(2)) == pytest.approx(np.full(4, 0.01))


def _environments():
    """Rattled bulk, a (111) and a (100) slab: bispectrum rows and whether each atom is at a surface."""
    rng = np.random.default_rng(3)
    images = []
    for _ in range(4):
        b = bulk("Al", "fcc", a=A0, cubic=True).repeat(2)
        b.positions += rng.normal(0, 0.05, b.positions.shape)
        images.append(b)
    images += [fcc111("Al", (2, 2, 6), a=A0, vacuum=6.0), fcc100("Al", (2, 2, 6), a=A0, vacuum=6.0)]
    rows, surface, source = [], [], []
    for i, atoms in enumerate(images):
        rows.append(descriptors(atoms, DescriptorSettings(twojmax=4))["atom"][:, 1:])
        coord, _ = structure(atoms, CUT, CNA_CUT)
        surface.append(coord < 12)
        source.append(np.full(len(atoms), "bulk" if i < 4 else "slab", dtype=object))
    x = np.vstack(rows)
    return (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-12), np.concatenate(surface), np.concatenate(source)


def test_clusters_separate_surface_from_bulk_atoms_and_are_reproducible():
    x, surface, source = _environments()
    s = EnvironmentSettings(clusters=[2, 5], components=5, fit_per_source=500, seed=1)
    c = cluster(x, source, s)
    assert 2 <= c.k <= 5 and len(c.silhouette) == 4 and c.k == c.tried[np.argmax(c.silhouette)]
    # no cluster mixes surface atoms with bulk atoms
    for k in np.unique(c.labels):
        members = surface[c.labels == k]
        assert members.all() or not members.any()
    again = cluster(x, source, s)
    assert np.array_equal(c.labels, again.labels) and np.allclose(c.embedding, again.embedding)


def test_too_few_atoms_for_the_largest_cluster_count_is_refused():
    x = np.random.default_rng(0).normal(size=(6, 4))
    with pytest.raises(ValueError, match="divergence.environments.clusters"):
        cluster(x, np.full(6, "train", dtype=object), EnvironmentSettings(clusters=[2, 8]))


@pytest.mark.parametrize("coordination, structure_, strain, hole, share, words", [
    (12, "fcc", 0.0, None, 0.0, "bulk-like fcc"),
    (12, "fcc", 0.03, 3.0, 0.9, "bulk-like fcc, stretched (specimen interior"),
    (12, "hcp", 0.0, None, 0.0, "stacking-fault"),
    (11, "other", 0.0, None, 0.0, "vacancy neighbour"),
    (9, "other", 0.0, 0.1, 0.8, "surface terrace (at the hole surface"),
    (7, "other", -0.05, 0.1, 0.8, "step, kink, edge or adatom"),
])
def test_cluster_labels_in_words(coordination, structure_, strain, hole, share, words):
    assert words in structure_label(coordination, 12.0, structure_, "fcc", strain, hole, share, None)


def test_label_names_the_dominant_dataset_group():
    assert "mostly surface" in structure_label(9, 12.0, "other", "fcc", 0.0, None, 0.0, "surface")


def test_mondrian_bounds_are_per_cluster_and_cover_each_cluster():
    """Two clusters whose errors differ tenfold: one pooled bound would over-cover one and under-cover the other;
    the class-conditional bounds cover each at the nominal level."""
    from multiscale.divergence.environments import mondrian_force_bounds

    rng = np.random.default_rng(2)
    labels = np.repeat([0, 1], 3000)
    error = np.abs(rng.normal(0, 1, 6000)) * np.where(labels == 0, 0.01, 0.1)
    source = np.where(rng.random(6000) < 0.5, "calibration", "test").astype(object)
    bounds = mondrian_force_bounds(error, source, labels, 0.9)
    assert bounds[1][0] == pytest.approx(10 * bounds[0][0], rel=0.15)
    for c in (0, 1):
        assert bounds[c][3] == pytest.approx(0.9, abs=0.025)
    few = mondrian_force_bounds(error[:5], np.full(5, "calibration", dtype=object), labels[:5], 0.9)
    assert few[0][0] is None  # 5 calibration atoms cannot bound at 90 %
